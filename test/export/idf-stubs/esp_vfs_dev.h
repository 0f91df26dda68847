#pragma once
#include "esp_idf_version.h"
// v5.1/v5.2 declare the USB-Serial-JTAG "use driver" switch here (and not in esp_vfs_usb_serial_jtag.h).
#if ESP_IDF_VERSION < ESP_IDF_VERSION_VAL(5, 3, 0)
extern "C" void esp_vfs_usb_serial_jtag_use_driver(void);
#endif
