// Camera frame -> model input tensor: unpack RGB565/RGB888, centre-crop or squash, bilinear resize,
// quantize each byte p to the int8 value q = p - 128 (the input contract the quantizer writes into
// the model). Integer arithmetic only, so the device and the host simulator agree bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sorter {

enum class PixelFormat : uint8_t {
  // 16-bit 5:6:5, high byte first. This is what esp32-camera delivers for PIXFORMAT_RGB565.
  kRgb565BigEndian = 0,
  // 16-bit 5:6:5, low byte first (a little-endian uint16_t array, e.g. from an LCD driver).
  kRgb565LittleEndian = 1,
  kRgb888 = 2,  // R, G, B bytes
  kBgr888 = 3,  // B, G, R bytes (esp32-camera's fmt2rgb888() output order)
};

size_t bytes_per_pixel(PixelFormat format);

struct Frame {
  const uint8_t* data;
  size_t len;            // bytes available at data
  uint16_t width;
  uint16_t height;
  size_t stride;         // bytes per row; 0 means width * bytes_per_pixel(format)
  PixelFormat format;
};

enum class ResizeMode : uint8_t {
  kSquash = 0,      // the whole frame is resized to the model input, aspect ratio not kept
  kCenterCrop = 1,  // the largest centred region with the model input's aspect ratio is resized
};

struct Rgb {
  uint8_t r, g, b;
};

// Expands 5- and 6-bit channels to 8 bits by bit replication (v << 3 | v >> 2, v << 2 | v >> 4), so
// that 0x1F maps to 255 and 0 to 0.
Rgb unpack_rgb565(uint16_t value);

// Reads pixel (x, y); the caller guarantees the coordinates are inside the frame.
Rgb read_pixel(const Frame& frame, uint16_t x, uint16_t y);

inline int8_t quantize_pixel(uint8_t p) { return static_cast<int8_t>(static_cast<int>(p) - 128); }

struct CropRect {
  uint16_t x, y, width, height;
};

// The source region used for a given mode: the whole frame (squash) or the largest centred rectangle
// whose aspect ratio is out_width:out_height (centre crop).
CropRect source_region(uint16_t frame_width, uint16_t frame_height, uint16_t out_width,
                       uint16_t out_height, ResizeMode mode);

enum class PreprocessStatus : uint8_t {
  kOk = 0,
  kBadFrame = 1,         // null data, zero size or a buffer shorter than stride * height
  kBadOutputShape = 2,   // zero size, or channels other than 3
  kOutputTooSmall = 3,   // out_len < out_width * out_height * 3
};

const char* preprocess_status_str(PreprocessStatus status);

// Bilinear resize with half-pixel centres (source coordinate = (dst + 0.5) * in / out - 0.5, clamped
// to the edge), as TensorFlow's resize_bilinear(half_pixel_centers=true) and OpenCV's INTER_LINEAR.
// Coordinates carry 16 fractional bits; the result is rounded to the nearest byte. Writes
// out_width * out_height * 3 bytes, RGB interleaved (HWC).
PreprocessStatus resize_bilinear_rgb888(const Frame& frame, const CropRect& region, uint8_t* out,
                                        size_t out_len, uint16_t out_width, uint16_t out_height);

// Frame -> int8 HWC tensor of out_width * out_height * out_channels values, q = p - 128.
PreprocessStatus preprocess_frame(const Frame& frame, ResizeMode mode, int8_t* out, size_t out_len,
                                  uint16_t out_width, uint16_t out_height, uint16_t out_channels);

}  // namespace sorter
