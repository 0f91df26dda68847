#pragma once
#include <cstddef>
#include <cstdint>
#include "esp_err.h"
#include "freertos/FreeRTOS.h"
typedef struct { uint32_t tx_buffer_size; uint32_t rx_buffer_size; } usb_serial_jtag_driver_config_t;
#define USB_SERIAL_JTAG_DRIVER_CONFIG_DEFAULT() { 256, 256 }
extern "C" esp_err_t usb_serial_jtag_driver_install(usb_serial_jtag_driver_config_t*);
extern "C" int usb_serial_jtag_read_bytes(void* buf, uint32_t length, TickType_t ticks_to_wait);
extern "C" int usb_serial_jtag_write_bytes(const void* src, size_t size, TickType_t ticks_to_wait);
