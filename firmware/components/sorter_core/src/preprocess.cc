#include "sorter/preprocess.h"

namespace sorter {

namespace {

// Output sizes above this would overflow the 32-bit coordinate arithmetic below; model inputs are
// at most a few hundred pixels.
constexpr uint32_t kMaxOutputSide = 4096;

// Source coordinate of destination index dst in Q16, half-pixel centres, clamped to [0, in - 1]:
// floor(((2 dst + 1) * in / (2 out) - 0.5) * 65536). All intermediate values fit in 32 bits for
// in <= 65535 and out <= kMaxOutputSide.
uint32_t source_coord_q16(uint32_t dst, uint32_t in, uint32_t out) {
  const uint32_t num = (2 * dst + 1) * in;
  const uint32_t den = 2 * out;
  const uint32_t whole = num / den;
  const uint32_t rem = num % den;
  const uint32_t q16 = (whole << 16) + ((rem << 16) / den);  // floor(num * 65536 / den)
  if (q16 < 32768u) return 0;
  const uint32_t coord = q16 - 32768u;
  const uint32_t max_coord = (in - 1) << 16;
  return coord > max_coord ? max_coord : coord;
}

}  // namespace

size_t bytes_per_pixel(PixelFormat format) {
  switch (format) {
    case PixelFormat::kRgb565BigEndian:
    case PixelFormat::kRgb565LittleEndian:
      return 2;
    case PixelFormat::kRgb888:
    case PixelFormat::kBgr888:
      return 3;
  }
  return 0;
}

Rgb unpack_rgb565(uint16_t value) {
  const uint32_t r5 = (value >> 11) & 0x1F;
  const uint32_t g6 = (value >> 5) & 0x3F;
  const uint32_t b5 = value & 0x1F;
  return Rgb{static_cast<uint8_t>((r5 << 3) | (r5 >> 2)), static_cast<uint8_t>((g6 << 2) | (g6 >> 4)),
             static_cast<uint8_t>((b5 << 3) | (b5 >> 2))};
}

Rgb read_pixel(const Frame& frame, uint16_t x, uint16_t y) {
  const size_t bpp = bytes_per_pixel(frame.format);
  const size_t stride = frame.stride ? frame.stride : static_cast<size_t>(frame.width) * bpp;
  const uint8_t* p = frame.data + static_cast<size_t>(y) * stride + static_cast<size_t>(x) * bpp;
  switch (frame.format) {
    case PixelFormat::kRgb565BigEndian:
      return unpack_rgb565(static_cast<uint16_t>((p[0] << 8) | p[1]));
    case PixelFormat::kRgb565LittleEndian:
      return unpack_rgb565(static_cast<uint16_t>((p[1] << 8) | p[0]));
    case PixelFormat::kRgb888:
      return Rgb{p[0], p[1], p[2]};
    case PixelFormat::kBgr888:
      return Rgb{p[2], p[1], p[0]};
  }
  return Rgb{0, 0, 0};
}

CropRect source_region(uint16_t frame_width, uint16_t frame_height, uint16_t out_width,
                       uint16_t out_height, ResizeMode mode) {
  CropRect r{0, 0, frame_width, frame_height};
  if (mode != ResizeMode::kCenterCrop || out_width == 0 || out_height == 0) return r;
  const uint32_t fw = frame_width, fh = frame_height;
  if (fw * out_height > fh * out_width) {
    // Wider than the model input: keep the full height, cut the sides.
    uint32_t w = fh * out_width / out_height;
    if (w == 0) w = 1;
    r.width = static_cast<uint16_t>(w);
    r.x = static_cast<uint16_t>((fw - w) / 2);
  } else {
    uint32_t h = fw * out_height / out_width;
    if (h == 0) h = 1;
    r.height = static_cast<uint16_t>(h);
    r.y = static_cast<uint16_t>((fh - h) / 2);
  }
  return r;
}

const char* preprocess_status_str(PreprocessStatus status) {
  switch (status) {
    case PreprocessStatus::kOk:
      return "ok";
    case PreprocessStatus::kBadFrame:
      return "bad frame: no data, zero size, or buffer shorter than stride x height";
    case PreprocessStatus::kBadOutputShape:
      return "bad model input shape: need width and height 1..4096 and 3 channels";
    case PreprocessStatus::kOutputTooSmall:
      return "output buffer smaller than width x height x 3";
  }
  return "unknown preprocess status";
}

static bool frame_valid(const Frame& frame) {
  if (frame.data == nullptr || frame.width == 0 || frame.height == 0) return false;
  const size_t bpp = bytes_per_pixel(frame.format);
  if (bpp == 0) return false;
  const size_t row = static_cast<size_t>(frame.width) * bpp;
  const size_t stride = frame.stride ? frame.stride : row;
  if (stride < row) return false;
  const size_t needed = stride * (static_cast<size_t>(frame.height) - 1) + row;
  return frame.len >= needed;
}

PreprocessStatus resize_bilinear_rgb888(const Frame& frame, const CropRect& region, uint8_t* out,
                                        size_t out_len, uint16_t out_width, uint16_t out_height) {
  if (!frame_valid(frame)) return PreprocessStatus::kBadFrame;
  if (region.width == 0 || region.height == 0 ||
      static_cast<uint32_t>(region.x) + region.width > frame.width ||
      static_cast<uint32_t>(region.y) + region.height > frame.height) {
    return PreprocessStatus::kBadFrame;
  }
  if (out == nullptr || out_width == 0 || out_height == 0 || out_width > kMaxOutputSide ||
      out_height > kMaxOutputSide) {
    return PreprocessStatus::kBadOutputShape;
  }
  if (out_len < static_cast<size_t>(out_width) * out_height * 3) return PreprocessStatus::kOutputTooSmall;

  uint8_t* dst = out;
  for (uint32_t dy = 0; dy < out_height; ++dy) {
    const uint32_t sy = source_coord_q16(dy, region.height, out_height);
    const uint32_t y0 = sy >> 16;
    const uint32_t fy = sy & 0xFFFF;
    const uint32_t y1 = y0 + 1 < region.height ? y0 + 1 : y0;
    for (uint32_t dx = 0; dx < out_width; ++dx) {
      const uint32_t sx = source_coord_q16(dx, region.width, out_width);
      const uint32_t x0 = sx >> 16;
      const uint32_t fx = sx & 0xFFFF;
      const uint32_t x1 = x0 + 1 < region.width ? x0 + 1 : x0;
      const Rgb p00 = read_pixel(frame, static_cast<uint16_t>(region.x + x0), static_cast<uint16_t>(region.y + y0));
      const Rgb p01 = read_pixel(frame, static_cast<uint16_t>(region.x + x1), static_cast<uint16_t>(region.y + y0));
      const Rgb p10 = read_pixel(frame, static_cast<uint16_t>(region.x + x0), static_cast<uint16_t>(region.y + y1));
      const Rgb p11 = read_pixel(frame, static_cast<uint16_t>(region.x + x1), static_cast<uint16_t>(region.y + y1));
      const uint8_t c00[3] = {p00.r, p00.g, p00.b};
      const uint8_t c01[3] = {p01.r, p01.g, p01.b};
      const uint8_t c10[3] = {p10.r, p10.g, p10.b};
      const uint8_t c11[3] = {p11.r, p11.g, p11.b};
      for (int c = 0; c < 3; ++c) {
        // Each row blend is at most 255 * 65536 (< 2^24); the column blend needs 64 bits.
        const uint32_t top = c00[c] * (65536u - fx) + c01[c] * fx;
        const uint32_t bottom = c10[c] * (65536u - fx) + c11[c] * fx;
        const uint64_t v = static_cast<uint64_t>(top) * (65536u - fy) + static_cast<uint64_t>(bottom) * fy;
        *dst++ = static_cast<uint8_t>((v + (uint64_t{1} << 31)) >> 32);
      }
    }
  }
  return PreprocessStatus::kOk;
}

PreprocessStatus preprocess_frame(const Frame& frame, ResizeMode mode, int8_t* out, size_t out_len,
                                  uint16_t out_width, uint16_t out_height, uint16_t out_channels) {
  if (out_channels != 3) return PreprocessStatus::kBadOutputShape;
  if (!frame_valid(frame)) return PreprocessStatus::kBadFrame;
  const CropRect region = source_region(frame.width, frame.height, out_width, out_height, mode);
  uint8_t* bytes = reinterpret_cast<uint8_t*>(out);
  const PreprocessStatus s = resize_bilinear_rgb888(frame, region, bytes, out_len, out_width, out_height);
  if (s != PreprocessStatus::kOk) return s;
  const size_t n = static_cast<size_t>(out_width) * out_height * 3;
  for (size_t i = 0; i < n; ++i) out[i] = quantize_pixel(bytes[i]);
  return PreprocessStatus::kOk;
}

}  // namespace sorter
