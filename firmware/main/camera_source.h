// sorter::Camera over esp32-camera: RGB565 frames (high byte first) in PSRAM.
#pragma once

#include "esp_camera.h"
#include "sorter/camera.h"

class EspCamera : public sorter::Camera {
 public:
  bool start() override;
  bool started() const override { return started_; }
  bool capture(sorter::Frame* frame) override;
  void release(const sorter::Frame& frame) override;
  const char* last_error() const override { return error_; }

 private:
  bool started_ = false;
  camera_fb_t* current_ = nullptr;
  char error_[128] = "camera not started";
};
