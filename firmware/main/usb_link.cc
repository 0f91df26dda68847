#include "usb_link.h"

#include <cstdarg>
#include <cstdio>

#include "driver/usb_serial_jtag.h"
#include "esp_idf_version.h"
#include "esp_log.h"
#include "esp_timer.h"
#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 3, 0)
#include "driver/usb_serial_jtag_vfs.h"
#else
#include "esp_vfs_dev.h"  // v5.1/v5.2 declare esp_vfs_usb_serial_jtag_use_driver here
#endif

static const char* TAG = "link";
static UsbSerialJtagLink* g_log_link = nullptr;

int locked_vprintf(const char* fmt, va_list args);

// Log output goes through the link's write lock, one whole line per write.
int locked_vprintf(const char* fmt, va_list args) {
  char line[256];
  const int n = vsnprintf(line, sizeof line, fmt, args);
  if (n <= 0) return n;
  const size_t len = static_cast<size_t>(n) < sizeof line ? static_cast<size_t>(n) : sizeof line - 1;
  if (g_log_link != nullptr) g_log_link->write_with_timeout(reinterpret_cast<const uint8_t*>(line), len, 0);
  return n;
}

bool UsbSerialJtagLink::begin() {
  write_lock_ = xSemaphoreCreateMutex();
  if (write_lock_ == nullptr) {
    ESP_LOGE(TAG, "no memory for the link lock");
    return false;
  }
  usb_serial_jtag_driver_config_t cfg = USB_SERIAL_JTAG_DRIVER_CONFIG_DEFAULT();
  cfg.rx_buffer_size = 8192;  // an INFER frame at 224x224x3 streams through in chunks
  cfg.tx_buffer_size = 4096;
  const esp_err_t err = usb_serial_jtag_driver_install(&cfg);
  if (err != ESP_OK) {
    ESP_LOGE(TAG, "USB-Serial-JTAG driver install failed: %s", esp_err_to_name(err));
    return false;
  }
#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 3, 0)
  usb_serial_jtag_vfs_use_driver();
#else
  esp_vfs_usb_serial_jtag_use_driver();
#endif
  g_log_link = this;
  esp_log_set_vprintf(locked_vprintf);
  return true;
}

int UsbSerialJtagLink::read(uint8_t* buf, size_t max, uint32_t timeout_ms) {
  const int n = usb_serial_jtag_read_bytes(buf, static_cast<uint32_t>(max), pdMS_TO_TICKS(timeout_ms));
  if (n > 0) last_rx_us_.store(esp_timer_get_time());
  // USB-Serial-JTAG has no "closed" state: an unplugged host simply sends nothing.
  return n < 0 ? 0 : n;
}

bool UsbSerialJtagLink::write(const uint8_t* data, size_t len) {
  return write_with_timeout(data, len, pdMS_TO_TICKS(200));
}

bool UsbSerialJtagLink::write_with_timeout(const uint8_t* data, size_t len, TickType_t per_chunk) {
  if (write_lock_ == nullptr) return false;
  xSemaphoreTake(write_lock_, portMAX_DELAY);
  size_t off = 0;
  bool ok = true;
  while (off < len) {
    const int n = usb_serial_jtag_write_bytes(data + off, len - off, per_chunk);
    if (n <= 0) {
      ok = false;  // no host reading: drop the rest rather than block the caller
      break;
    }
    off += static_cast<size_t>(n);
  }
  xSemaphoreGive(write_lock_);
  return ok;
}
