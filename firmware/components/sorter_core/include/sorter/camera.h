// Frame source: esp32-camera on the device, synthetic or file-backed frames on the host.
#pragma once

#include "sorter/preprocess.h"

namespace sorter {

class Camera {
 public:
  virtual ~Camera() = default;
  // Starts the sensor; false with a reason in last_error() when it cannot (no sensor, bad pins).
  virtual bool start() = 0;
  virtual bool started() const = 0;
  // Grabs a frame; the buffer stays valid until release(). False with a reason on failure.
  virtual bool capture(Frame* frame) = 0;
  virtual void release(const Frame& frame) = 0;
  virtual const char* last_error() const = 0;
};

}  // namespace sorter
