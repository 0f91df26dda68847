#pragma once
#include "esp_idf_version.h"
// Added in ESP-IDF v5.3 (the USB-Serial-JTAG VFS moved into its driver component).
#if ESP_IDF_VERSION < ESP_IDF_VERSION_VAL(5, 3, 0)
#error "driver/usb_serial_jtag_vfs.h does not exist before ESP-IDF v5.3"
#endif
extern "C" void usb_serial_jtag_vfs_use_driver(void);
