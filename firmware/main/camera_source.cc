#include "camera_source.h"

#include <cstdio>

#include "sdkconfig.h"

bool EspCamera::start() {
  if (started_) return true;
  camera_config_t c = {};
  c.pin_pwdn = CONFIG_PLASTISORT_CAM_PIN_PWDN;
  c.pin_reset = CONFIG_PLASTISORT_CAM_PIN_RESET;
  c.pin_xclk = CONFIG_PLASTISORT_CAM_PIN_XCLK;
  c.pin_sccb_sda = CONFIG_PLASTISORT_CAM_PIN_SIOD;
  c.pin_sccb_scl = CONFIG_PLASTISORT_CAM_PIN_SIOC;
  c.pin_d7 = CONFIG_PLASTISORT_CAM_PIN_D7;
  c.pin_d6 = CONFIG_PLASTISORT_CAM_PIN_D6;
  c.pin_d5 = CONFIG_PLASTISORT_CAM_PIN_D5;
  c.pin_d4 = CONFIG_PLASTISORT_CAM_PIN_D4;
  c.pin_d3 = CONFIG_PLASTISORT_CAM_PIN_D3;
  c.pin_d2 = CONFIG_PLASTISORT_CAM_PIN_D2;
  c.pin_d1 = CONFIG_PLASTISORT_CAM_PIN_D1;
  c.pin_d0 = CONFIG_PLASTISORT_CAM_PIN_D0;
  c.pin_vsync = CONFIG_PLASTISORT_CAM_PIN_VSYNC;
  c.pin_href = CONFIG_PLASTISORT_CAM_PIN_HREF;
  c.pin_pclk = CONFIG_PLASTISORT_CAM_PIN_PCLK;
  c.xclk_freq_hz = CONFIG_PLASTISORT_CAM_XCLK_HZ;
  // XCLK takes LEDC timer 0 / channel 0; the servo gates use timer 1 and channels 1..7.
  c.ledc_timer = LEDC_TIMER_0;
  c.ledc_channel = LEDC_CHANNEL_0;
  c.pixel_format = PIXFORMAT_RGB565;
#if CONFIG_PLASTISORT_CAM_FRAME_240X240
  c.frame_size = FRAMESIZE_240X240;
#elif CONFIG_PLASTISORT_CAM_FRAME_VGA
  c.frame_size = FRAMESIZE_VGA;
#else
  c.frame_size = FRAMESIZE_QVGA;
#endif
  c.jpeg_quality = 12;
  c.fb_count = 2;
  c.fb_location = CAMERA_FB_IN_PSRAM;
  c.grab_mode = CAMERA_GRAB_LATEST;  // a trigger wants the newest frame, not a queued one
  const esp_err_t err = esp_camera_init(&c);
  if (err != ESP_OK) {
    std::snprintf(error_, sizeof error_,
                  "esp_camera_init failed (%s): check the board preset, camera pins and ribbon cable",
                  esp_err_to_name(err));
    return false;
  }
  started_ = true;
  return true;
}

bool EspCamera::capture(sorter::Frame* frame) {
  if (!started_) return false;
  camera_fb_t* fb = esp_camera_fb_get();
  if (fb == nullptr) {
    std::snprintf(error_, sizeof error_, "no frame from the camera (timeout)");
    return false;
  }
  if (fb->format != PIXFORMAT_RGB565) {
    std::snprintf(error_, sizeof error_, "camera delivered pixel format %d, expected RGB565", static_cast<int>(fb->format));
    esp_camera_fb_return(fb);
    return false;
  }
  current_ = fb;
  *frame = sorter::Frame{fb->buf, fb->len, static_cast<uint16_t>(fb->width), static_cast<uint16_t>(fb->height), 0,
                         sorter::PixelFormat::kRgb565BigEndian};
  return true;
}

void EspCamera::release(const sorter::Frame&) {
  if (current_ != nullptr) esp_camera_fb_return(current_);
  current_ = nullptr;
}
