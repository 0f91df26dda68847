#include <cmath>
#include <cstdint>
#include <vector>

#include "check.h"
#include "sorter/preprocess.h"

using namespace sorter;

namespace {

// Deterministic pseudo-random bytes (LCG), so failures reproduce.
std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t s = seed;
  for (auto& b : v) {
    s = s * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(s >> 24);
  }
  return v;
}

Frame rgb_frame(const std::vector<uint8_t>& px, uint16_t w, uint16_t h) {
  return Frame{px.data(), px.size(), w, h, 0, PixelFormat::kRgb888};
}

// Reference bilinear resize in double precision, written from the formula (half-pixel centres,
// edge clamp), independent of the fixed-point implementation.
double reference_sample(const std::vector<uint8_t>& px, int w, int h, int c, double sx, double sy) {
  sx = std::fmin(std::fmax(sx, 0.0), w - 1.0);
  sy = std::fmin(std::fmax(sy, 0.0), h - 1.0);
  const int x0 = static_cast<int>(std::floor(sx)), y0 = static_cast<int>(std::floor(sy));
  const int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
  const double fx = sx - x0, fy = sy - y0;
  auto at = [&](int x, int y) { return static_cast<double>(px[(static_cast<size_t>(y) * w + x) * 3 + c]); };
  return (at(x0, y0) * (1 - fx) + at(x1, y0) * fx) * (1 - fy) + (at(x0, y1) * (1 - fx) + at(x1, y1) * fx) * fy;
}

std::vector<uint8_t> reference_resize(const std::vector<uint8_t>& px, int w, int h, int ow, int oh) {
  std::vector<uint8_t> out(static_cast<size_t>(ow) * oh * 3);
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x)
      for (int c = 0; c < 3; ++c) {
        const double sx = (x + 0.5) * w / ow - 0.5, sy = (y + 0.5) * h / oh - 0.5;
        out[(static_cast<size_t>(y) * ow + x) * 3 + c] =
            static_cast<uint8_t>(std::floor(reference_sample(px, w, h, c, sx, sy) + 0.5));
      }
  return out;
}

}  // namespace

TEST(rgb565_unpacking_matches_rounded_scaling) {
  int exact = 0;
  for (uint32_t v = 0; v < 65536; ++v) {
    const Rgb p = unpack_rgb565(static_cast<uint16_t>(v));
    const double r = std::floor(((v >> 11) & 0x1F) * 255.0 / 31.0 + 0.5);
    const double g = std::floor(((v >> 5) & 0x3F) * 255.0 / 63.0 + 0.5);
    const double b = std::floor((v & 0x1F) * 255.0 / 31.0 + 0.5);
    CHECK_OR_BREAK(std::fabs(p.r - r) <= 1 && std::fabs(p.g - g) <= 1 && std::fabs(p.b - b) <= 1);
    exact += (p.r == r && p.g == g && p.b == b);
  }
  CHECK(exact > 65536 / 2);
  const Rgb white = unpack_rgb565(0xFFFF), black = unpack_rgb565(0);
  CHECK(white.r == 255 && white.g == 255 && white.b == 255);
  CHECK(black.r == 0 && black.g == 0 && black.b == 0);
}

TEST(rgb565_byte_order) {
  // Pure red, green, blue, and one mixed colour, packed both ways.
  const uint16_t colours[4] = {0xF800, 0x07E0, 0x001F, 0x1234};
  std::vector<uint8_t> be, le;
  for (uint16_t c : colours) {
    be.push_back(static_cast<uint8_t>(c >> 8));
    be.push_back(static_cast<uint8_t>(c & 0xFF));
    le.push_back(static_cast<uint8_t>(c & 0xFF));
    le.push_back(static_cast<uint8_t>(c >> 8));
  }
  const Frame fbe{be.data(), be.size(), 4, 1, 0, PixelFormat::kRgb565BigEndian};
  const Frame fle{le.data(), le.size(), 4, 1, 0, PixelFormat::kRgb565LittleEndian};
  const Rgb red = read_pixel(fbe, 0, 0), green = read_pixel(fbe, 1, 0), blue = read_pixel(fbe, 2, 0);
  CHECK(red.r == 255 && red.g == 0 && red.b == 0);
  CHECK(green.r == 0 && green.g == 255 && green.b == 0);
  CHECK(blue.r == 0 && blue.g == 0 && blue.b == 255);
  for (uint16_t x = 0; x < 4; ++x) {
    const Rgb a = read_pixel(fbe, x, 0), b = read_pixel(fle, x, 0);
    CHECK(a.r == b.r && a.g == b.g && a.b == b.b);
  }
  // 0x1234: r5 = 2, g6 = 17, b5 = 20.
  const Rgb mixed = read_pixel(fle, 3, 0);
  CHECK_EQ(mixed.r, (2 << 3) | (2 >> 2));
  CHECK_EQ(mixed.g, (17 << 2) | (17 >> 4));
  CHECK_EQ(mixed.b, (20 << 3) | (20 >> 2));
}

TEST(bgr888_order) {
  const std::vector<uint8_t> px = {10, 20, 30};
  const Frame f{px.data(), px.size(), 1, 1, 0, PixelFormat::kBgr888};
  const Rgb p = read_pixel(f, 0, 0);
  CHECK(p.r == 30 && p.g == 20 && p.b == 10);
}

TEST(quantize_is_p_minus_128) {
  for (int p = 0; p < 256; ++p) CHECK_EQ(quantize_pixel(static_cast<uint8_t>(p)), p - 128);
}

TEST(resize_matches_double_reference) {
  const int sizes[][4] = {{37, 23, 16, 12}, {320, 240, 96, 96}, {5, 7, 11, 13}, {64, 48, 64, 48}, {3, 2, 1, 1}};
  for (const auto& s : sizes) {
    const auto px = random_bytes(static_cast<size_t>(s[0]) * s[1] * 3, 42u + static_cast<uint32_t>(s[0]));
    const Frame f = rgb_frame(px, static_cast<uint16_t>(s[0]), static_cast<uint16_t>(s[1]));
    std::vector<uint8_t> out(static_cast<size_t>(s[2]) * s[3] * 3);
    const CropRect all{0, 0, static_cast<uint16_t>(s[0]), static_cast<uint16_t>(s[1])};
    CHECK(resize_bilinear_rgb888(f, all, out.data(), out.size(), static_cast<uint16_t>(s[2]),
                                 static_cast<uint16_t>(s[3])) == PreprocessStatus::kOk);
    size_t i = 0;
    bool ok = true;
    for (int y = 0; y < s[3] && ok; ++y)
      for (int x = 0; x < s[2] && ok; ++x)
        for (int c = 0; c < 3 && ok; ++c, ++i) {
          const double sx = (x + 0.5) * s[0] / s[2] - 0.5, sy = (y + 0.5) * s[1] / s[3] - 0.5;
          const double v = reference_sample(px, s[0], s[1], c, sx, sy);
          const double rounded = std::floor(v + 0.5);
          // The fixed-point result may round the other way only when the exact value sits on a
          // .5 boundary (within the 2^-16 pixel coordinate step times the pixel range).
          const bool on_boundary = std::fabs(v - std::floor(v) - 0.5) < 0.01;
          ok = out[i] == rounded || (on_boundary && std::fabs(out[i] - rounded) <= 1);
          if (!ok) std::printf("%dx%d->%dx%d at (%d,%d,%d): got %d, reference %.4f\n", s[0], s[1], s[2], s[3], x, y, c, out[i], v);
        }
    CHECK(ok);
  }
}

TEST(resize_identity_is_exact_copy) {
  const auto px = random_bytes(31 * 17 * 3, 7);
  const Frame f = rgb_frame(px, 31, 17);
  std::vector<uint8_t> out(px.size());
  CHECK(resize_bilinear_rgb888(f, CropRect{0, 0, 31, 17}, out.data(), out.size(), 31, 17) == PreprocessStatus::kOk);
  CHECK(out == px);
}

TEST(resize_halving_averages_2x2_blocks) {
  // With half-pixel centres, output (x, y) of a 2x downscale samples exactly between source pixels
  // 2x, 2x+1 and 2y, 2y+1: the mean of the block, rounded half up.
  const int w = 20, h = 14;
  const auto px = random_bytes(w * h * 3, 99);
  const Frame f = rgb_frame(px, w, h);
  std::vector<uint8_t> out(10 * 7 * 3);
  CHECK(resize_bilinear_rgb888(f, CropRect{0, 0, w, h}, out.data(), out.size(), 10, 7) == PreprocessStatus::kOk);
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < 10; ++x)
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int xx, int yy) { return static_cast<int>(px[(yy * w + xx) * 3 + c]); };
        const int sum = at(2 * x, 2 * y) + at(2 * x + 1, 2 * y) + at(2 * x, 2 * y + 1) + at(2 * x + 1, 2 * y + 1);
        CHECK_EQ(static_cast<int>(out[(y * 10 + x) * 3 + c]), (sum + 2) / 4);
      }
}

TEST(centre_crop_region_and_content) {
  const CropRect wide = source_region(320, 240, 96, 96, ResizeMode::kCenterCrop);
  CHECK(wide.x == 40 && wide.y == 0 && wide.width == 240 && wide.height == 240);
  const CropRect tall = source_region(240, 320, 96, 96, ResizeMode::kCenterCrop);
  CHECK(tall.x == 0 && tall.y == 40 && tall.width == 240 && tall.height == 240);
  const CropRect squash = source_region(320, 240, 96, 96, ResizeMode::kSquash);
  CHECK(squash.x == 0 && squash.width == 320 && squash.height == 240);
  const CropRect odd = source_region(321, 240, 96, 96, ResizeMode::kCenterCrop);
  CHECK(odd.x == 40 && odd.width == 240);

  // Red side bands of 40 px around a green centre: the centre crop sees only green, the squash sees
  // red at its edges.
  std::vector<uint8_t> px(320 * 240 * 3);
  for (int y = 0; y < 240; ++y)
    for (int x = 0; x < 320; ++x) {
      const bool band = x < 40 || x >= 280;
      px[(y * 320 + x) * 3 + 0] = band ? 255 : 0;
      px[(y * 320 + x) * 3 + 1] = band ? 0 : 255;
    }
  const Frame f = rgb_frame(px, 320, 240);
  std::vector<int8_t> crop(96 * 96 * 3), sq(96 * 96 * 3);
  CHECK(preprocess_frame(f, ResizeMode::kCenterCrop, crop.data(), crop.size(), 96, 96, 3) == PreprocessStatus::kOk);
  CHECK(preprocess_frame(f, ResizeMode::kSquash, sq.data(), sq.size(), 96, 96, 3) == PreprocessStatus::kOk);
  bool all_green = true;
  for (size_t i = 0; i < crop.size(); i += 3) all_green &= crop[i] == -128 && crop[i + 1] == 127 && crop[i + 2] == -128;
  CHECK(all_green);
  CHECK_EQ(sq[0], 127);   // top-left pixel of the squash: red
  CHECK_EQ(sq[1], -128);
}

TEST(preprocess_quantizes_resized_pixels) {
  const auto px = random_bytes(40 * 30 * 3, 3);
  const Frame f = rgb_frame(px, 40, 30);
  std::vector<int8_t> q(24 * 24 * 3);
  CHECK(preprocess_frame(f, ResizeMode::kCenterCrop, q.data(), q.size(), 24, 24, 3) == PreprocessStatus::kOk);
  // Reference: crop the centre 30x30 by hand, resize in double, subtract 128.
  std::vector<uint8_t> crop(30 * 30 * 3);
  for (int y = 0; y < 30; ++y)
    for (int x = 0; x < 30; ++x)
      for (int c = 0; c < 3; ++c) crop[(y * 30 + x) * 3 + c] = px[(y * 40 + x + 5) * 3 + c];
  const auto ref = reference_resize(crop, 30, 30, 24, 24);
  for (size_t i = 0; i < q.size(); ++i) CHECK_OR_BREAK(std::abs(q[i] - (ref[i] - 128)) <= 1);
}

TEST(rgb565_frame_equals_unpacked_rgb888_frame) {
  const int w = 33, h = 21;
  const auto raw = random_bytes(w * h * 2, 5);
  std::vector<uint8_t> rgb(w * h * 3);
  for (int i = 0; i < w * h; ++i) {
    const Rgb p = unpack_rgb565(static_cast<uint16_t>((raw[2 * i] << 8) | raw[2 * i + 1]));
    rgb[3 * i] = p.r;
    rgb[3 * i + 1] = p.g;
    rgb[3 * i + 2] = p.b;
  }
  const Frame f565{raw.data(), raw.size(), w, h, 0, PixelFormat::kRgb565BigEndian};
  const Frame f888 = rgb_frame(rgb, w, h);
  std::vector<int8_t> a(12 * 12 * 3), b(12 * 12 * 3);
  CHECK(preprocess_frame(f565, ResizeMode::kSquash, a.data(), a.size(), 12, 12, 3) == PreprocessStatus::kOk);
  CHECK(preprocess_frame(f888, ResizeMode::kSquash, b.data(), b.size(), 12, 12, 3) == PreprocessStatus::kOk);
  CHECK(a == b);
}

TEST(stride_padding_is_skipped) {
  const int w = 6, h = 4, stride = w * 3 + 5;
  const auto packed = random_bytes(w * h * 3, 11);
  std::vector<uint8_t> padded(stride * h, 0xEE);
  for (int y = 0; y < h; ++y)
    for (int i = 0; i < w * 3; ++i) padded[y * stride + i] = packed[y * w * 3 + i];
  const Frame fp{padded.data(), padded.size(), w, h, static_cast<size_t>(stride), PixelFormat::kRgb888};
  const Frame fq = rgb_frame(packed, w, h);
  std::vector<int8_t> a(5 * 3 * 3), b(5 * 3 * 3);
  CHECK(preprocess_frame(fp, ResizeMode::kSquash, a.data(), a.size(), 5, 3, 3) == PreprocessStatus::kOk);
  CHECK(preprocess_frame(fq, ResizeMode::kSquash, b.data(), b.size(), 5, 3, 3) == PreprocessStatus::kOk);
  CHECK(a == b);
}

TEST(bad_frames_and_shapes_are_rejected) {
  std::vector<uint8_t> px(10 * 10 * 3, 1);
  std::vector<int8_t> out(8 * 8 * 3);
  Frame f = rgb_frame(px, 10, 10);
  f.len = px.size() - 1;
  CHECK(preprocess_frame(f, ResizeMode::kSquash, out.data(), out.size(), 8, 8, 3) == PreprocessStatus::kBadFrame);
  f = rgb_frame(px, 10, 10);
  f.data = nullptr;
  CHECK(preprocess_frame(f, ResizeMode::kSquash, out.data(), out.size(), 8, 8, 3) == PreprocessStatus::kBadFrame);
  f = rgb_frame(px, 0, 10);
  CHECK(preprocess_frame(f, ResizeMode::kSquash, out.data(), out.size(), 8, 8, 3) == PreprocessStatus::kBadFrame);
  f = rgb_frame(px, 10, 10);
  f.stride = 10;  // shorter than a row
  CHECK(preprocess_frame(f, ResizeMode::kSquash, out.data(), out.size(), 8, 8, 3) == PreprocessStatus::kBadFrame);
  f = rgb_frame(px, 10, 10);
  CHECK(preprocess_frame(f, ResizeMode::kSquash, out.data(), out.size(), 8, 8, 1) == PreprocessStatus::kBadOutputShape);
  CHECK(preprocess_frame(f, ResizeMode::kSquash, out.data(), out.size(), 0, 8, 3) == PreprocessStatus::kBadOutputShape);
  CHECK(preprocess_frame(f, ResizeMode::kSquash, out.data(), out.size() - 1, 8, 8, 3) == PreprocessStatus::kOutputTooSmall);
  CHECK(std::strlen(preprocess_status_str(PreprocessStatus::kBadFrame)) > 0);
}
