#pragma once
// v5.1/v5.2: only the VFS getter; esp_vfs_usb_serial_jtag_use_driver is in esp_vfs_dev.h.
typedef struct esp_vfs_t esp_vfs_t;
extern "C" const esp_vfs_t* esp_vfs_usb_serial_jtag_get_vfs(void);
