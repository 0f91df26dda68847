#include "gate_driver.h"

#include <cstdio>
#include <cstdlib>

#include "driver/gpio.h"
#include "driver/ledc.h"
#include "esp_log.h"
#include "sdkconfig.h"

static const char* TAG = "gates";

// Kconfig leaves a bool option undefined when it is off.
#ifdef CONFIG_PLASTISORT_GATE_ACTIVE_HIGH
static constexpr bool kActiveHigh = true;
#else
static constexpr bool kActiveHigh = false;
#endif
#if CONFIG_PLASTISORT_GATE_SERVO
static constexpr const char* kDriverName = "servo";
#else
static constexpr const char* kDriverName = "GPIO";
#endif

#if CONFIG_PLASTISORT_GATE_SERVO
namespace {
constexpr ledc_timer_t kServoTimer = LEDC_TIMER_1;  // timer 0 drives the camera's XCLK
constexpr ledc_mode_t kMode = LEDC_LOW_SPEED_MODE;
constexpr uint32_t kServoPeriodUs = 20000;           // 50 Hz
constexpr uint32_t kDutyBits = 14;

uint32_t duty_for_us(uint32_t us) { return (us * ((1u << kDutyBits) - 1)) / kServoPeriodUs; }
ledc_channel_t channel_for(uint8_t bin) { return static_cast<ledc_channel_t>(LEDC_CHANNEL_1 + bin); }
}  // namespace
#endif

bool GateDriver::begin(const char* pins, uint8_t num_bins) {
  count_ = 0;
  if (num_bins == 0 || num_bins > kMaxGates) {
    std::snprintf(error_, sizeof error_, "%u bins configured; 1..%u supported", num_bins, kMaxGates);
    return false;
  }
  int parsed[kMaxGates];
  uint8_t n = 0;
  const char* p = pins;
  while (p != nullptr && *p != '\0' && n < kMaxGates) {
    char* end = nullptr;
    const long v = std::strtol(p, &end, 10);
    if (end == p || v < 0 || v > 48) {
      std::snprintf(error_, sizeof error_, "PLASTISORT_GATE_PINS \"%s\": not a list of GPIO numbers", pins);
      return false;
    }
    parsed[n++] = static_cast<int>(v);
    p = (*end == ',') ? end + 1 : nullptr;
  }
  if (n == 0) {
    std::snprintf(error_, sizeof error_, "PLASTISORT_GATE_PINS is empty: set one GPIO per bin (menuconfig > Plastisort sorter > Gates and bins)");
    return false;
  }
  if (n < num_bins) {
    std::snprintf(error_, sizeof error_, "PLASTISORT_GATE_PINS lists %u GPIOs for %u bins", n, num_bins);
    return false;
  }

  if (lock_ == nullptr) lock_ = xSemaphoreCreateMutex();
  if (lock_ == nullptr) {
    std::snprintf(error_, sizeof error_, "no memory for the gates' mutex");
    return false;
  }

#if CONFIG_PLASTISORT_GATE_SERVO
  ledc_timer_config_t timer = {};
  timer.speed_mode = kMode;
  timer.duty_resolution = static_cast<ledc_timer_bit_t>(kDutyBits);
  timer.timer_num = kServoTimer;
  timer.freq_hz = 1000000 / kServoPeriodUs;
  timer.clk_cfg = LEDC_AUTO_CLK;
  esp_err_t err = ledc_timer_config(&timer);
  if (err != ESP_OK) {
    std::snprintf(error_, sizeof error_, "LEDC timer setup failed: %s", esp_err_to_name(err));
    return false;
  }
#endif

  for (uint8_t bin = 0; bin < num_bins; ++bin) {
    Gate& g = gates_[bin];
    g.owner = this;
    g.bin = bin;
    g.gpio = parsed[bin];
#if CONFIG_PLASTISORT_GATE_SERVO
    ledc_channel_config_t ch = {};
    ch.gpio_num = g.gpio;
    ch.speed_mode = kMode;
    ch.channel = channel_for(bin);
    ch.timer_sel = kServoTimer;
    ch.duty = duty_for_us(CONFIG_PLASTISORT_SERVO_CLOSED_US);
    ch.hpoint = 0;
    err = ledc_channel_config(&ch);
#else
    gpio_config_t io = {};
    io.pin_bit_mask = 1ULL << g.gpio;
    io.mode = GPIO_MODE_OUTPUT;
    esp_err_t err = gpio_config(&io);
    if (err == ESP_OK) err = gpio_set_level(static_cast<gpio_num_t>(g.gpio), kActiveHigh ? 0 : 1);
#endif
    if (err != ESP_OK) {
      std::snprintf(error_, sizeof error_, "gate %u on GPIO %d: %s", bin, g.gpio, esp_err_to_name(err));
      return false;
    }
    esp_timer_create_args_t args = {};
    args.callback = &GateDriver::close_cb;
    args.arg = &g;
    args.dispatch_method = ESP_TIMER_TASK;
    args.name = "gate_close";
    err = esp_timer_create(&args, &g.timer);
    if (err != ESP_OK) {
      std::snprintf(error_, sizeof error_, "gate %u timer: %s", bin, esp_err_to_name(err));
      return false;
    }
  }
  count_ = num_bins;
  error_[0] = '\0';
  ESP_LOGI(TAG, "%u gates ready (%s)", count_, kDriverName);
  return true;
}

void GateDriver::set_open(uint8_t bin, bool open) {
  Gate& g = gates_[bin];
#if CONFIG_PLASTISORT_GATE_SERVO
  (void)g;
  const uint32_t us = open ? CONFIG_PLASTISORT_SERVO_OPEN_US : CONFIG_PLASTISORT_SERVO_CLOSED_US;
  ledc_set_duty(kMode, channel_for(bin), duty_for_us(us));
  ledc_update_duty(kMode, channel_for(bin));
#else
  const bool level = kActiveHigh ? open : !open;
  gpio_set_level(static_cast<gpio_num_t>(g.gpio), level ? 1 : 0);
#endif
}

void GateDriver::close_cb(void* arg) {
  Gate* g = static_cast<Gate*>(arg);
  GateDriver* self = g->owner;
  xSemaphoreTake(self->lock_, portMAX_DELAY);
  // A pulse that came in while this callback waited for the lock has moved the deadline on.
  if (esp_timer_get_time() >= g->close_at_us) self->set_open(g->bin, false);
  xSemaphoreGive(self->lock_);
}

bool GateDriver::pulse(uint8_t bin, uint32_t hold_ms) {
  if (bin >= count_) {
    std::snprintf(error_, sizeof error_, "no gate for bin %u (%u gates)", bin, count_);
    return false;
  }
  Gate& g = gates_[bin];
  xSemaphoreTake(lock_, portMAX_DELAY);
  esp_timer_stop(g.timer);  // a pulse already running is extended, not doubled
  // Set before the timer starts, so the timer can only fire at or after it.
  g.close_at_us = esp_timer_get_time() + static_cast<int64_t>(hold_ms) * 1000;
  set_open(bin, true);
  const esp_err_t err = esp_timer_start_once(g.timer, static_cast<uint64_t>(hold_ms) * 1000);
  if (err != ESP_OK) set_open(bin, false);
  xSemaphoreGive(lock_);
  if (err != ESP_OK) {
    std::snprintf(error_, sizeof error_, "gate %u timer start: %s", bin, esp_err_to_name(err));
    return false;
  }
  return true;
}
