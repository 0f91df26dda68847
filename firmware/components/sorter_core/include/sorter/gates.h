// The sorting gates: one output per bin (a servo on an LEDC channel or a solenoid on a GPIO on the
// device, a recorder in tests and the simulator).
#pragma once

#include <cstdint>

namespace sorter {

class Gates {
 public:
  virtual ~Gates() = default;
  virtual uint8_t bin_count() const = 0;
  // Opens the gate of `bin` and closes it again after hold_ms. Returns once the gate is opening (the
  // close is timer-driven on the device), false with a reason in last_error() for an unknown bin or
  // a driver failure.
  virtual bool pulse(uint8_t bin, uint32_t hold_ms) = 0;
  virtual const char* last_error() const = 0;
};

}  // namespace sorter
