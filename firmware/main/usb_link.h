// sorter::Link over the USB-Serial-JTAG port, shared with the console: log lines are routed through
// the same lock so that a log line never lands inside a frame written in one write() call.
#pragma once

#include <atomic>
#include <cstdarg>
#include <cstdint>

#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "sorter/link.h"

class UsbSerialJtagLink : public sorter::Link {
 public:
  // Installs the driver and routes the console through it. False with a log line on failure.
  bool begin();
  int read(uint8_t* buf, size_t max, uint32_t timeout_ms) override;
  bool write(const uint8_t* data, size_t len) override;
  // esp_timer time (us) of the last byte received from the host; 0 when none yet.
  int64_t last_rx_us() const { return last_rx_us_.load(); }

 private:
  friend int locked_vprintf(const char* fmt, va_list args);
  // Logs wait 0 ticks: with no host draining the port they are dropped instead of slowing sorting.
  bool write_with_timeout(const uint8_t* data, size_t len, TickType_t per_chunk);
  SemaphoreHandle_t write_lock_ = nullptr;
  std::atomic<int64_t> last_rx_us_{0};
};
