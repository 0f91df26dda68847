// sorter::Gates for the bin flaps: a hobby servo per bin on LEDC (50 Hz) or a solenoid/relay per
// bin on a GPIO. pulse() opens the gate and returns; an esp_timer closes it after hold_ms.
// pulse() runs on the sorter task and the close on the esp_timer task, on either core: one mutex orders
// them (LEDC's duty calls are not thread-safe), and a close whose deadline a newer pulse has moved on
// is dropped, because esp_timer_stop() does not wait for a callback already running.
#pragma once

#include <cstdint>

#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "sorter/gates.h"

class GateDriver : public sorter::Gates {
 public:
  static constexpr uint8_t kMaxGates = 7;

  // pins: "1,2,3,4" (Kconfig PLASTISORT_GATE_PINS). False with a reason in last_error().
  bool begin(const char* pins, uint8_t num_bins);
  uint8_t bin_count() const override { return count_; }
  bool pulse(uint8_t bin, uint32_t hold_ms) override;
  const char* last_error() const override { return error_; }

 private:
  static void close_cb(void* arg);
  void set_open(uint8_t bin, bool open);

  struct Gate {
    GateDriver* owner;
    uint8_t bin;
    int gpio;
    esp_timer_handle_t timer;
    int64_t close_at_us;  // esp_timer_get_time() from which the pending close may act
  };
  SemaphoreHandle_t lock_ = nullptr;
  Gate gates_[kMaxGates] = {};
  uint8_t count_ = 0;
  char error_[128] = "gates not initialised";
};
