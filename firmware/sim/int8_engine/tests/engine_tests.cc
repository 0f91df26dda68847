// Unit tests for the int8 engine: fixed-point primitives against exact 128-bit arithmetic, SHA-256
// against FIPS vectors, each kernel on hand-made tensors, the parser on truncated and corrupted
// models, and the engine end to end. Usage: int8_engine_tests <group>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "int8_engine/engine.h"
#include "int8_engine/fixed_point.h"
#include "int8_engine/kernels.h"
#include "int8_engine/model.h"
#include "int8_engine/sha256.h"
#include "model_builder.h"

using namespace int8_engine;
namespace k = int8_engine::kernels;

static int g_failures = 0;
#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      ++g_failures;                                                        \
      if (g_failures < 30) std::printf("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                      \
  } while (0)
#define CHECK_EQ(a, b)                                                                                     \
  do {                                                                                                     \
    const long long va_ = static_cast<long long>(a), vb_ = static_cast<long long>(b);                      \
    if (va_ != vb_) {                                                                                      \
      ++g_failures;                                                                                        \
      if (g_failures < 30) std::printf("%s:%d: %s = %lld, expected %s = %lld\n", __FILE__, __LINE__, #a, va_, #b, vb_); \
    }                                                                                                      \
  } while (0)

using i128 = __int128;

// round(n / d) with ties away from zero, d > 0, exact (RoundingDivideByPOT).
static i128 div_round_half_away(i128 n, i128 d) {
  const i128 q = n / d, r = n % d;
  if (2 * (r < 0 ? -r : r) >= d) return n < 0 ? q - 1 : q + 1;
  return q;
}
// floor(n / d + 1/2): ties toward +infinity, exact.
static i128 div_round_half_up(i128 n, i128 d) {
  i128 m = 2 * n + d, dd = 2 * d;
  i128 q = m / dd;
  if ((m % dd != 0) && (m < 0)) --q;
  return q;
}

static void test_fixed_point() {
  std::mt19937_64 rng(1234);
  // SaturatingRoundingDoublingHighMul == round(a*b / 2^31) with ties toward +infinity: the nudge
  // 1 - 2^30 followed by truncating division rounds -1.5 up to -1.
  for (int i = 0; i < 200000; ++i) {
    int32_t a = static_cast<int32_t>(rng()), b = static_cast<int32_t>(rng());
    if (i % 7 == 0) a >>= (rng() % 31);
    if (a == INT32_MIN && b == INT32_MIN) continue;
    const i128 exact = div_round_half_up(static_cast<i128>(a) * b, static_cast<i128>(1) << 31);
    CHECK_EQ(fp::saturating_rounding_doubling_high_mul(a, b), exact);
  }
  CHECK_EQ(fp::saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN), INT32_MAX);
  CHECK_EQ(fp::saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);  // -1.5
  CHECK_EQ(fp::saturating_rounding_doubling_high_mul(3, 1 << 30), 2);    // +1.5
  // RoundingDivideByPOT == round_half_away(x / 2^e).
  for (int i = 0; i < 200000; ++i) {
    const int32_t x = static_cast<int32_t>(rng());
    const int e = static_cast<int>(rng() % 32);
    CHECK_EQ(fp::rounding_divide_by_pot(x, e), div_round_half_away(x, static_cast<i128>(1) << e));
  }
  CHECK_EQ(fp::rounding_divide_by_pot(-3, 1), -2);  // -1.5 -> -2
  CHECK_EQ(fp::rounding_divide_by_pot(3, 1), 2);
  // Single rounding == round_half_up(x * m * 2^shift / 2^31), exactly, for shift in [-31, 30].
  // Double rounding == the two roundings composed.
  int differ = 0;
  for (int i = 0; i < 200000; ++i) {
    const int32_t x = static_cast<int32_t>(rng()) >> (rng() % 24);
    const int32_t m = static_cast<int32_t>((int64_t{1} << 30) + static_cast<int64_t>(rng() % (int64_t{1} << 30)));
    const int shift = static_cast<int>(rng() % 40) - 31;
    const i128 num = static_cast<i128>(x) * m;
    const i128 single_exact = shift >= 0 ? div_round_half_up(num * (static_cast<i128>(1) << shift), static_cast<i128>(1) << 31)
                                         : div_round_half_up(num, static_cast<i128>(1) << (31 - shift));
    const int32_t single = fp::multiply_by_quantized_multiplier(x, m, shift, Rounding::kSingle);
    if (single_exact >= INT32_MIN && single_exact <= INT32_MAX) CHECK_EQ(single, single_exact);
    const int ls = shift > 0 ? shift : 0, rs = shift > 0 ? 0 : -shift;
    const i128 shifted = static_cast<i128>(x) * (static_cast<i128>(1) << ls);
    if (shifted < INT32_MIN || shifted > INT32_MAX) continue;
    const i128 first = div_round_half_up(shifted * m, static_cast<i128>(1) << 31);
    const i128 dbl_exact = div_round_half_away(first, static_cast<i128>(1) << rs);
    const int32_t dbl = fp::multiply_by_quantized_multiplier(x, m, shift, Rounding::kDouble);
    CHECK_EQ(dbl, dbl_exact);
    if (single_exact >= INT32_MIN && single_exact <= INT32_MAX) {
      CHECK(std::llabs(static_cast<long long>(dbl) - single) <= 1);
      if (dbl != single) ++differ;
    }
  }
  CHECK(differ > 0);  // the variants really are different functions
  // A tie: -2 * 0.5 / 2 = -0.5. Double rounding's final shift rounds it away from zero, single
  // rounding toward +infinity.
  CHECK_EQ(fp::multiply_by_quantized_multiplier(-2, 1 << 30, -1, Rounding::kDouble), -1);
  CHECK_EQ(fp::multiply_by_quantized_multiplier(-2, 1 << 30, -1, Rounding::kSingle), 0);

  // QuantizeMultiplier reconstructs the real multiplier to within half a unit of Q0.31.
  for (int i = 0; i < 20000; ++i) {
    const double real = std::exp(std::uniform_real_distribution<double>(-20, 8)(rng));
    int32_t m = 0;
    int s = 0;
    CHECK(fp::quantize_multiplier(real, Rounding::kDouble, &m, &s));
    CHECK(m >= (1 << 30));
    const double back = std::ldexp(static_cast<double>(m), s - 31);
    CHECK(std::fabs(back - real) <= std::ldexp(0.5000001, s - 31));
  }
  int32_t m = 0;
  int s = 0;
  CHECK(fp::quantize_multiplier(0.0, Rounding::kDouble, &m, &s) && m == 0 && s == 0);
  CHECK(fp::quantize_multiplier(1.0, Rounding::kDouble, &m, &s) && m == (1 << 30) && s == 1);
  CHECK(fp::quantize_multiplier(std::ldexp(1.0, 40), Rounding::kSingle, &m, &s) && s == 30 && m == INT32_MAX);
  CHECK(fp::quantize_multiplier(std::ldexp(1.0, -40), Rounding::kDouble, &m, &s) && m == 0 && s == 0);
  CHECK(!fp::quantize_multiplier(-1.0, Rounding::kDouble, &m, &s));
  CHECK(!fp::quantize_multiplier(std::nan(""), Rounding::kDouble, &m, &s));

  // gemmlowp exp and reciprocal against libm.
  double max_err = 0;
  for (int64_t a = 0; a > -(int64_t{31} << 26); a -= 9973) {
    const double got = fp::exp_on_negative_values_q5_26(static_cast<int32_t>(a)) / 2147483648.0;
    max_err = std::max(max_err, std::fabs(got - std::exp(static_cast<double>(a) / 67108864.0)));
  }
  std::printf("exp_on_negative_values max abs error %.3g\n", max_err);
  CHECK(max_err < 5e-7);
  CHECK_EQ(fp::exp_on_negative_values_q5_26(0), INT32_MAX);
  max_err = 0;
  for (int64_t a = 1; a < INT32_MAX; a += 7919 * 97) {
    const double x = static_cast<double>(a) / 2147483648.0;
    max_err = std::max(max_err, std::fabs(fp::one_over_one_plus_x_for_x_in_0_1(static_cast<int32_t>(a)) / 2147483648.0 - 1.0 / (1.0 + x)));
  }
  CHECK(max_err < 1e-8);
  int bits = 0;
  // sum of exps = 3.0 in Q12.19 -> 1/3 = recip * 2^-bits.
  const int32_t recip = fp::get_reciprocal(3 << 19, 12, &bits);
  CHECK(std::fabs(std::ldexp(recip / 2147483648.0, -bits) - 1.0 / 3.0) < 1e-8);
  // Softmax input radius and multiplier for beta=1, scale=1/16 (TFLite's Q5.26 choice).
  int32_t sm = 0;
  int sl = 0;
  CHECK(fp::preprocess_softmax_scaling(1.0, 1.0 / 16, 5, Rounding::kDouble, &sm, &sl));
  CHECK_EQ(sm, 1 << 30);
  CHECK_EQ(sl, 23);
  CHECK_EQ(fp::calculate_input_radius(5, sl), 31 * 16 / 2 * 2 / 2 * 1);  // 31 * 2^26 / 2^23 = 248
}


// Rounding::kXnnpack: the float requantization helpers and the kernels in that arithmetic.
static void test_xnnpack() {
  // Ties go to even, in both directions; the values next to a tie round to nearest.
  CHECK(fp::round_half_even(0.5f) == 0.0f);
  CHECK(fp::round_half_even(1.5f) == 2.0f);
  CHECK(fp::round_half_even(2.5f) == 2.0f);
  CHECK(fp::round_half_even(-0.5f) == 0.0f);
  CHECK(fp::round_half_even(-1.5f) == -2.0f);
  CHECK(fp::round_half_even(-2.5f) == -2.0f);
  CHECK(fp::round_half_even(std::nextafter(0.5f, 0.0f)) == 0.0f);
  CHECK(fp::round_half_even(std::nextafter(0.5f, 1.0f)) == 1.0f);
  CHECK(fp::round_half_even(8388607.5f) == 8388608.0f);
  CHECK(fp::round_half_even(16777216.0f) == 16777216.0f);
  // Against the FPU's own round-to-nearest-even (the default rounding mode) on random floats.
  std::mt19937 rng(7);
  int mismatches = 0;
  for (int i = 0; i < 200000; ++i) {
    const float x = std::ldexp(std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng), i % 26);
    const float h = std::round(x * 2.0f) / 2.0f;  // also exercise exact halves
    for (const float v : {x, h}) {
      if (fp::round_half_even(v) != std::nearbyint(v)) ++mismatches;
    }
  }
  CHECK_EQ(mismatches, 0);

  // requantize_fp32: float(acc) * scale, clamp, ties to even, plus the zero point.
  CHECK_EQ(fp::requantize_fp32(1, 0.5f, 0, -128, 127), 0);    // 0.5 -> 0
  CHECK_EQ(fp::requantize_fp32(3, 0.5f, 0, -128, 127), 2);    // 1.5 -> 2
  CHECK_EQ(fp::requantize_fp32(5, 0.5f, 0, -128, 127), 2);    // 2.5 -> 2 (TFLM gives 3)
  CHECK_EQ(fp::requantize_fp32(-5, 0.5f, 0, -128, 127), -2);  // -2.5 -> -2 (TFLM single: -2, double: -3)
  CHECK_EQ(fp::requantize_fp32(5, 0.5f, 7, -128, 127), 9);    // the zero point is added after rounding
  // The product is a float32 product: 3 * float(1/6) = 0.50000001 rounds to the float 0.5, a tie -> 0,
  // where the exact product would round to 1.
  CHECK_EQ(fp::requantize_fp32(3, 1.0f / 6.0f, 0, -128, 127), 0);
  // Clamping to [qmin, qmax] happens around the zero point, also for huge accumulators.
  CHECK_EQ(fp::requantize_fp32(INT32_MAX, 1.0f, -3, -128, 127), 127);
  CHECK_EQ(fp::requantize_fp32(INT32_MIN, 1.0f, -3, -128, 127), -128);
  CHECK_EQ(fp::requantize_fp32(-40, 1.0f, -100, -100, 20), -100);  // a ReLU bound at the zero point
  CHECK_EQ(fp::requantize_fp32(200, 1.0f, -100, -100, 20), 20);

  // Activation bounds: round_half_even(f / s + zp), clamped to int8.
  CHECK_EQ(fp::quantize_bound_fp32(10.0f, 4.0f, 0), 2);   // 2.5 -> 2 (TFLM: 3)
  CHECK_EQ(fp::quantize_bound_fp32(-10.0f, 4.0f, 0), -2);
  CHECK_EQ(fp::quantize_bound_fp32(10.0f, 4.0f, 1), 4);   // 3.5 -> 4
  CHECK_EQ(fp::quantize_bound_fp32(6.0f, 1e-3f, 0), 127);
  CHECK_EQ(fp::quantize_bound_fp32(-1e30f, 1e-3f, 5), -128);

  // ADD parameters: ratios 1/2 give shift 21 and multipliers 2^20; ties round up (floor after + 2^20).
  fp::AddFp32Params ap;
  CHECK(fp::add_params_fp32(0.25f, 0.25f, 0.5f, 0, 0, &ap));
  CHECK_EQ(ap.shift, 21);
  CHECK_EQ(ap.a_multiplier, 1 << 20);
  CHECK_EQ(ap.b_multiplier, 1 << 20);
  CHECK_EQ(ap.bias, 1 << 20);
  CHECK(!fp::add_params_fp32(std::ldexp(1.0f, -11), 0.5f, 1.0f, 0, 0, &ap));  // ratio below 2^-10
  CHECK(!fp::add_params_fp32(300.0f, 0.5f, 1.0f, 0, 0, &ap));                // ratio at or above 2^8
  CHECK(!fp::add_params_fp32(std::nanf(""), 0.5f, 1.0f, 0, 0, &ap));
  {
    k::AddParams p;
    p.rounding = Rounding::kXnnpack;
    CHECK(fp::add_params_fp32(0.25f, 0.25f, 0.5f, 3, -4, &p.xnn));
    p.output_offset = 1;
    k::Shape4 s{1, 1, 1, 4};
    std::vector<int8_t> a = {4, 2, 5, -128}, b = {-4, -4, -3, -128}, y(4);
    k::add(p, s, a.data(), s, b.data(), s, y.data());
    // ((a - 3) + (b + 4)) / 2 rounded half up (toward +infinity), then + 1.
    CHECK_EQ(y[0], 1 + 1);     // (1 + 0) / 2 = 0.5 -> 1
    CHECK_EQ(y[1], 0 + 1);     // (-1 + 0) / 2 = -0.5 -> 0
    CHECK_EQ(y[2], 2 + 1);     // (2 + 1) / 2 = 1.5 -> 2
    CHECK_EQ(y[3], -127 + 1);  // (-131 - 124) / 2 = -127.5 -> -127
  }
  // Random scales and zero points: the integer ADD stays within 1 LSB of the exact real sum.
  std::mt19937 r2(11);
  int far = 0;
  for (int i = 0; i < 2000; ++i) {
    const float sa = std::exp(std::uniform_real_distribution<float>(-5, 0)(r2));
    const float sb = std::exp(std::uniform_real_distribution<float>(-5, 0)(r2));
    const float so = std::exp(std::uniform_real_distribution<float>(-4, 0)(r2));
    const int za = static_cast<int>(r2() % 256) - 128, zb = static_cast<int>(r2() % 256) - 128, zo = static_cast<int>(r2() % 40) - 20;
    k::AddParams p;
    p.rounding = Rounding::kXnnpack;
    if (!fp::add_params_fp32(sa, sb, so, za, zb, &p.xnn)) continue;
    p.output_offset = zo;
    k::Shape4 s{1, 1, 1, 1};
    int8_t a = static_cast<int8_t>(r2() % 256 - 128), b = static_cast<int8_t>(r2() % 256 - 128), y = 0;
    k::add(p, s, &a, s, &b, s, &y);
    const double exact = (static_cast<double>(sa) * (a - za) + static_cast<double>(sb) * (b - zb)) / so + zo;
    const double clamped = std::min(127.0, std::max(-128.0, exact));
    if (std::fabs(y - clamped) > 1.0) ++far;
  }
  CHECK_EQ(far, 0);

  // conv2d in the xnnpack arithmetic: per-channel float scales 0.5 and 0.25 on a 1x1 conv.
  {
    k::Shape4 in2{1, 1, 2, 1}, f2{2, 1, 1, 1}, o2{1, 1, 2, 2};
    std::vector<int8_t> x2 = {-3, 7}, w2 = {1, 1}, y2(4);
    int32_t m2[2] = {0, 0}, s2[2] = {0, 0};
    const float sc[2] = {0.5f, 0.25f};
    k::ConvParams p;
    p.multipliers = m2;
    p.shifts = s2;
    p.scales = sc;
    p.rounding = Rounding::kXnnpack;
    k::conv2d(p, in2, x2.data(), f2, w2.data(), nullptr, o2, y2.data());
    CHECK_EQ(y2[0], -2);  // -1.5 -> -2 (ties to even; TFLM gives -1)
    CHECK_EQ(y2[1], -1);  // -0.75 -> -1
    CHECK_EQ(y2[2], 4);   // 3.5 -> 4
    CHECK_EQ(y2[3], 2);   // 1.75 -> 2
  }
  // MEAN: the zero-point-corrected sum times float(float(s_in / s_out) * float(1 / N)).
  {
    k::MeanParams p;
    p.rounding = Rounding::kXnnpack;
    p.input_zero_point = -1;
    p.output_zero_point = 2;
    p.xnn_scale = 0.5f * (1.0f / 4.0f);
    k::Shape4 in{1, 2, 2, 2};
    std::vector<int8_t> x = {0, 5, 1, 5, 2, 5, 2, 1}, y(2);
    k::mean_hw(p, in, x.data(), y.data());
    CHECK_EQ(y[0], 1 + 2);  // sum(x + 1) = 9: 9 / 8 = 1.125 -> 1
    CHECK_EQ(y[1], 2 + 2);  // sum(x + 1) = 20: 20 / 8 = 2.5 -> 2 (ties to even; TFLM gives 3)
  }
}

static std::string hex(const uint8_t* d, size_t n) {
  static const char* h = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(h[d[i] >> 4]);
    s.push_back(h[d[i] & 15]);
  }
  return s;
}

static void test_sha256() {
  uint8_t d[32];
  sha256(nullptr, 0, d);
  CHECK(hex(d, 32) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  sha256(reinterpret_cast<const uint8_t*>("abc"), 3, d);
  CHECK(hex(d, 32) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  sha256(reinterpret_cast<const uint8_t*>(m448.data()), m448.size(), d);
  CHECK(hex(d, 32) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // One million 'a', fed in uneven chunks.
  Sha256 s;
  std::vector<uint8_t> a(1000000, 'a');
  size_t pos = 0, step = 1;
  while (pos < a.size()) {
    const size_t n = std::min(step, a.size() - pos);
    s.update(a.data() + pos, n);
    pos += n;
    step = step * 3 % 1000 + 1;
  }
  s.finish(d);
  CHECK(hex(d, 32) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_kernels() {
  const int32_t one_m = 1 << 30;  // QuantizeMultiplier(1.0) = (2^30, 1)
  // conv2d: 3x3 ones filter over a 3x3 image with SAME padding, input zero point 1, multiplier 1.
  {
    k::Shape4 in{1, 3, 3, 1}, filt{1, 3, 3, 1}, out{1, 3, 3, 1};
    std::vector<int8_t> x = {1, 2, 3, 4, 5, 6, 7, 8, 9}, f(9, 1), y(9);
    int32_t mult[1] = {one_m}, shift[1] = {1}, bias[1] = {10};
    k::ConvParams p;
    p.pad_w = p.pad_h = 1;
    p.input_offset = -1;
    p.output_offset = -5;
    p.multipliers = mult;
    p.shifts = shift;
    k::conv2d(p, in, x.data(), filt, f.data(), bias, out, y.data());
    // Brute force: sum over the 3x3 neighbourhood of (x - 1), padded with the zero point.
    for (int oy = 0; oy < 3; ++oy) {
      for (int ox = 0; ox < 3; ++ox) {
        int sum = 0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) {
            const int yy = oy + dy, xx = ox + dx;
            if (yy >= 0 && yy < 3 && xx >= 0 && xx < 3) sum += x[yy * 3 + xx] - 1;
          }
        CHECK_EQ(y[oy * 3 + ox], std::min(127, sum + 10 - 5));
      }
    }
    // Per-channel: two output channels with multipliers 0.5 and 0.25 on a 1x1 conv; ReLU clamp at 0.
    k::Shape4 in2{1, 1, 2, 1}, f2{2, 1, 1, 1}, o2{1, 1, 2, 2};
    std::vector<int8_t> x2 = {-3, 7}, w2 = {1, 1}, y2(4);
    int32_t m2[2] = {one_m, one_m}, s2[2] = {0, -1};
    k::ConvParams p2;
    p2.multipliers = m2;
    p2.shifts = s2;
    p2.act_min = -1;
    k::conv2d(p2, in2, x2.data(), f2, w2.data(), nullptr, o2, y2.data());
    CHECK_EQ(y2[0], -1);  // -1.5 -> -1 (SRDHM ties go up)
    CHECK_EQ(y2[1], -1);  // -0.75 -> -1
    CHECK_EQ(y2[2], 4);   // 3.5 -> 4
    CHECK_EQ(y2[3], 2);   // 1.75 -> 2
    p2.act_min = -128;
    p2.rounding = Rounding::kSingle;
    k::conv2d(p2, in2, x2.data(), f2, w2.data(), nullptr, o2, y2.data());
    CHECK_EQ(y2[0], -1);  // -1.5 -> -1 with a single round-half-up
    CHECK_EQ(y2[1], -1);  // -0.75 -> -1
  }
  // depthwise: 2 input channels, depth multiplier 2, 2x2 filter, VALID, stride 1 over 2x2 -> 1x1x4.
  {
    k::Shape4 in{1, 2, 2, 2}, filt{1, 2, 2, 4}, out{1, 1, 1, 4};
    std::vector<int8_t> x = {1, 10, 2, 20, 3, 30, 4, 40};
    std::vector<int8_t> f = {1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 1, 1, 1};
    std::vector<int8_t> y(4);
    int32_t mult[4] = {one_m, one_m, one_m, one_m}, shift[4] = {1, 1, 1, 1};
    k::ConvParams p;
    p.depth_multiplier = 2;
    p.multipliers = mult;
    p.shifts = shift;
    k::depthwise_conv2d(p, in, x.data(), filt, f.data(), nullptr, out, y.data());
    // oc0 = ic0 * f[.,0]; oc1 = ic0 * f[.,1]; oc2 = ic1 * f[.,2]; oc3 = ic1 * f[.,3]
    CHECK_EQ(y[0], 1 + 2 + 3 + 4);
    CHECK_EQ(y[1], 4);
    CHECK_EQ(y[2], 10 + 20 + 30 + 40);
    CHECK_EQ(y[3], std::min(127, 20 + 40 + 60 + 40));
  }
  // fully connected, per-tensor and per-channel.
  {
    std::vector<int8_t> x = {1, 2, 3}, w = {1, 1, 1, -1, 0, 2}, y(2);
    int32_t bias[2] = {1, -1};
    int32_t mult[2] = {one_m, one_m}, shift[2] = {1, 0};
    k::FullyConnectedParams p;
    p.input_offset = 1;  // input zero point -1
    p.output_offset = 3;
    p.multipliers = mult;
    p.shifts = shift;
    k::fully_connected(p, 1, 3, 2, x.data(), w.data(), bias, y.data());
    CHECK_EQ(y[0], (2 + 3 + 4) + 1 + 3);
    CHECK_EQ(y[1], (-2 + 0 + 8) - 1 + 3);
    p.per_channel = true;
    k::fully_connected(p, 1, 3, 2, x.data(), w.data(), bias, y.data());
    CHECK_EQ(y[1], 3 + 3);  // (6 - 1) * 0.5 = 2.5 -> 3
  }
  // add: equal scales 0.5, output scale 1 -> out = round((a - za + b - zb) / 2) + zo, with broadcast.
  {
    k::AddParams p;
    const double twice = 2 * 0.5;
    CHECK(fp::quantize_multiplier(0.5 / twice, Rounding::kDouble, &p.input1_multiplier, &p.input1_shift));
    CHECK(fp::quantize_multiplier(0.5 / twice, Rounding::kDouble, &p.input2_multiplier, &p.input2_shift));
    CHECK(fp::quantize_multiplier(twice / ((1 << 20) * 1.0), Rounding::kDouble, &p.output_multiplier, &p.output_shift));
    p.input1_offset = -2;
    p.input2_offset = 0;
    p.output_offset = 1;
    k::Shape4 s1{1, 1, 2, 2}, s2{1, 1, 1, 2}, so{1, 1, 2, 2};
    std::vector<int8_t> a = {10, 20, 30, 41}, b = {4, -7}, y(4);
    k::add(p, s1, a.data(), s2, b.data(), so, y.data());
    CHECK_EQ(y[0], 6 + 1);       // (8 + 4) / 2
    CHECK_EQ(y[1], 6 + 1);       // (18 - 7) / 2 = 5.5 -> 6
    CHECK_EQ(y[2], 16 + 1);      // (28 + 4) / 2
    CHECK_EQ(y[3], 16 + 1);      // (39 - 7) / 2 = 16
  }
  // average pool rounds half away from zero; max pool.
  {
    k::PoolParams p;
    p.filter_w = 2;
    p.stride_w = 2;
    k::Shape4 in{1, 1, 4, 1}, out{1, 1, 2, 1};
    std::vector<int8_t> x = {1, 2, -1, -2}, y(2);
    k::average_pool(p, in, x.data(), out, y.data());
    CHECK_EQ(y[0], 2);
    CHECK_EQ(y[1], -2);
    k::max_pool(p, in, x.data(), out, y.data());
    CHECK_EQ(y[0], 2);
    CHECK_EQ(y[1], -1);
  }
  // mean over H,W: same quantization truncates; different quantization folds 1/N into the multiplier.
  {
    k::Shape4 in{1, 2, 2, 2};
    std::vector<int8_t> x = {1, -1, 2, -2, 2, -2, 2, -3}, y(2);
    k::MeanParams p;
    p.same_quantization = true;
    k::mean_hw(p, in, x.data(), y.data());
    CHECK_EQ(y[0], 1);   // 7 / 4 = 1.75 -> 1 (truncation)
    CHECK_EQ(y[1], -2);  // -8 / 4
    p.same_quantization = false;
    p.input_zero_point = 0;
    p.output_zero_point = 0;
    CHECK(fp::quantize_multiplier(1.0, Rounding::kDouble, &p.multiplier, &p.shift));
    k::mean_hw(p, in, x.data(), y.data());
    CHECK_EQ(y[0], 2);   // 1.75 rounds to 2
    CHECK_EQ(y[1], -2);
  }
  // softmax: uniform logits -> 1/n; a dominant logit -> 127.
  {
    k::SoftmaxParams p;
    CHECK(fp::preprocess_softmax_scaling(1.0, 0.1, 5, Rounding::kDouble, &p.input_multiplier, &p.input_left_shift));
    p.diff_min = -fp::calculate_input_radius(5, p.input_left_shift);
    std::vector<int8_t> x = {5, 5, 5, 5, 100, -100, -100, -100}, y(8);
    k::softmax(p, 2, 4, x.data(), y.data());
    for (int i = 0; i < 4; ++i) CHECK_EQ(y[i], -64);
    CHECK_EQ(y[4], 127);
    for (int i = 5; i < 8; ++i) CHECK_EQ(y[i], -128);
    // Random logits: within 1 LSB of the float softmax.
    std::mt19937 rng(7);
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<int8_t> in(10), out(10);
      for (auto& v : in) v = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
      k::softmax(p, 1, 10, in.data(), out.data());
      double mx = -1e9, sum = 0;
      for (int8_t v : in) mx = std::max(mx, 0.1 * v);
      for (int8_t v : in) sum += std::exp(0.1 * v - mx);
      for (int i = 0; i < 10; ++i) {
        const double q = std::min(127.0, std::round(std::exp(0.1 * in[i] - mx) / sum * 256) - 128);
        CHECK(std::fabs(q - out[i]) <= 1);
      }
    }
  }
  // pad with the zero point.
  {
    k::Shape4 in{1, 1, 2, 1}, out{1, 2, 3, 1};
    const int pads[4][2] = {{0, 0}, {1, 0}, {0, 1}, {0, 0}};
    std::vector<int8_t> x = {5, 6}, y(6);
    k::pad(in, x.data(), pads, -3, out, y.data());
    const std::vector<int8_t> want = {-3, -3, -3, 5, 6, -3};
    CHECK(y == want);
  }
}

// A small classifier: CONV(3x3, stride 2, RELU6, per-channel) -> DW(3x3, RELU6) -> ADD -> MEAN -> FC -> SOFTMAX.
static testmodel::Model small_model(uint32_t seed, bool deprecated_codes) {
  using testmodel::Tensor;
  std::mt19937 rng(seed);
  auto rnd8 = [&](size_t n) {
    std::vector<int8_t> v(n);
    for (auto& x : v) x = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    return testmodel::raw(v);
  };
  testmodel::Model m;
  m.tensors.push_back({"input", 9, {1, 8, 8, 3}, {0.0078125f}, {-1}, 0, {}});
  m.tensors.push_back({"conv/filter", 9, {4, 3, 3, 3}, {0.01f, 0.02f, 0.015f, 0.03f}, {0, 0, 0, 0}, 0, rnd8(108)});
  m.tensors.push_back({"conv/bias", 2, {4}, {1e-4f}, {0}, 0, testmodel::raw(std::vector<int32_t>{100, -200, 300, 0})});
  m.tensors.push_back({"conv", 9, {1, 4, 4, 4}, {0.0235f}, {-128}, 0, {}});
  m.tensors.push_back({"dw/filter", 9, {1, 3, 3, 4}, {0.02f, 0.01f, 0.03f, 0.02f}, {0, 0, 0, 0}, 3, rnd8(36)});
  m.tensors.push_back({"dw/bias", 2, {4}, {1e-4f}, {0}, 0, testmodel::raw(std::vector<int32_t>{5, 6, -7, 8})});
  m.tensors.push_back({"dw", 9, {1, 4, 4, 4}, {0.0235f}, {-128}, 0, {}});
  m.tensors.push_back({"add", 9, {1, 4, 4, 4}, {0.04f}, {-100}, 0, {}});
  m.tensors.push_back({"mean/axes", 2, {2}, {}, {}, 0, testmodel::raw(std::vector<int32_t>{1, 2})});
  m.tensors.push_back({"mean", 9, {1, 4}, {0.03f}, {-90}, 0, {}});
  m.tensors.push_back({"fc/weights", 9, {3, 4}, {0.05f}, {0}, 0, rnd8(12)});
  m.tensors.push_back({"fc/bias", 2, {3}, {0.0015f}, {0}, 0, testmodel::raw(std::vector<int32_t>{10, 0, -10})});
  m.tensors.push_back({"logits", 9, {1, 3}, {0.1f}, {3}, 0, {}});
  m.tensors.push_back({"probs", 9, {1, 3}, {1.0f / 256}, {-128}, 0, {}});
  auto conv_opts = [](int stride, int act) {
    auto o = testmodel::table();
    o->set<int8_t>(0, 0);
    o->set<int32_t>(1, stride);
    o->set<int32_t>(2, stride);
    o->set<int8_t>(3, static_cast<int8_t>(act));
    return o;
  };
  auto dw = testmodel::table();
  dw->set<int8_t>(0, 0).set<int32_t>(1, 1).set<int32_t>(2, 1).set<int32_t>(3, 1).set<int8_t>(4, 3);
  auto add = testmodel::table();
  add->set<int8_t>(0, 0);
  auto mean = testmodel::table();
  mean->set<uint8_t>(0, 0);
  auto fc = testmodel::table();
  fc->set<int8_t>(0, 0);
  auto sm = testmodel::table();
  sm->set<float>(0, 1.0f);
  m.ops.push_back({3, {0, 1, 2}, {3}, 1, conv_opts(2, 3), deprecated_codes});
  m.ops.push_back({4, {3, 4, 5}, {6}, 2, dw, deprecated_codes});
  m.ops.push_back({0, {3, 6}, {7}, 11, add, deprecated_codes});
  m.ops.push_back({40, {7, 8}, {9}, 27, mean, deprecated_codes});
  m.ops.push_back({9, {9, 10, 11}, {12}, 8, fc, deprecated_codes});
  m.ops.push_back({25, {12}, {13}, 9, sm, deprecated_codes});
  m.inputs = {0};
  m.outputs = {13};
  m.plastisort_json = "{\"schema\":\"plastisort.model/1\",\"labels\":[\"PET\",\"HDPE\",\"caf\\u00e9\"],\"inputSize\":8}";
  return m;
}

static void test_parser() {
  const std::vector<uint8_t> good = testmodel::build(small_model(1, false));
  {
    EngineClassifier e;
    CHECK(e.load(good.data(), good.size()));
    if (!e.ready()) std::printf("load failed: %s\n", e.last_error());
    CHECK_EQ(e.description().input_width, 8);
    CHECK_EQ(e.description().input_channels, 3);
    CHECK_EQ(e.description().num_classes, 3);
    CHECK(e.labels().size() == 3 && e.labels()[0] == "PET" && e.labels()[2] == "caf\xc3\xa9");
    uint8_t d[32];
    sha256(good.data(), good.size(), d);
    CHECK(std::memcmp(d, e.description().model_sha256, 32) == 0);
  }
  {
    // Only deprecated_builtin_code set (old converters) parses the same.
    const std::vector<uint8_t> old = testmodel::build(small_model(1, true));
    EngineClassifier a, b;
    CHECK(a.load(good.data(), good.size()) && b.load(old.data(), old.size()));
    std::vector<int8_t> x(192, 17), ya(3), yb(3);
    CHECK(a.classify(x.data(), x.size(), ya.data(), 3, nullptr) == sorter::Status::kOk);
    CHECK(b.classify(x.data(), x.size(), yb.data(), 3, nullptr) == sorter::Status::kOk);
    CHECK(ya == yb);
  }
  // Every truncation is rejected without crashing (the buffer is copied so ASan sees its end), except
  // dropping the final string's NUL terminator, which the reader does not need.
  std::vector<int8_t> ref(3), got(3), zeros(192, 0);
  {
    EngineClassifier e;
    e.load(good.data(), good.size());
    e.classify(zeros.data(), zeros.size(), ref.data(), 3, nullptr);
  }
  for (size_t len = 0; len < good.size(); ++len) {
    std::vector<uint8_t> t(good.begin(), good.begin() + static_cast<long>(len));
    EngineClassifier e;
    if (e.load(t.data(), t.size())) {
      CHECK(len + 1 == good.size() && good.back() == 0);
      CHECK(e.classify(zeros.data(), zeros.size(), got.data(), 3, nullptr) == sorter::Status::kOk);
      CHECK(got == ref);
    } else {
      CHECK(std::strlen(e.last_error()) > 0);
    }
  }
  // Random corruption: byte flips, random bytes, and offset fields pointed elsewhere.
  std::mt19937 rng(99);
  int loaded = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<uint8_t> t = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      const size_t pos = rng() % t.size();
      switch (rng() % 3) {
        case 0: t[pos] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        case 1: t[pos] = static_cast<uint8_t>(rng()); break;
        default: t[pos] = 0xff; break;
      }
    }
    EngineClassifier e;
    if (e.load(t.data(), t.size())) {
      ++loaded;
      std::vector<uint8_t> x(e.input_bytes(), 0);
      CHECK(e.invoke(x.data(), x.size()) == sorter::Status::kOk);
      for (size_t i = 0; i < e.dump_tensor_count(); ++i) {
        const int8_t* d = nullptr;
        size_t n = 0;
        const char* name = nullptr;
        CHECK(e.dump_tensor(i, &d, &n, &name) == sorter::Status::kOk && name != nullptr);
      }
    }
  }
  std::printf("parser: %d of 3000 corrupted models still loaded and ran\n", loaded);
  // Garbage that is not a flatbuffer at all.
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<uint8_t> t(rng() % 512);
    for (auto& b : t) b = static_cast<uint8_t>(rng());
    EngineClassifier e;
    if (e.load(t.data(), t.size())) {
      std::vector<uint8_t> x(e.input_bytes(), 0);
      e.invoke(x.data(), x.size());
    }
  }
  // Semantic errors give a reason.
  {
    testmodel::Model m = small_model(1, false);
    m.tensors[1].data.pop_back();
    const auto bytes = testmodel::build(m);
    EngineClassifier e;
    CHECK(!e.load(bytes.data(), bytes.size()));
    CHECK(std::string(e.last_error()).find("conv/filter") != std::string::npos);
  }
  {
    testmodel::Model m = small_model(1, false);
    m.ops[2].code = 18;  // MUL: not implemented
    const auto bytes = testmodel::build(m);
    EngineClassifier e;
    CHECK(!e.load(bytes.data(), bytes.size()));
    CHECK(std::string(e.last_error()).find("not implemented") != std::string::npos);
  }
}

static void test_engine() {
  const std::vector<uint8_t> bytes = testmodel::build(small_model(5, false));
  EngineClassifier e;
  CHECK(e.load(bytes.data(), bytes.size()));
  std::mt19937 rng(3);
  std::vector<int8_t> x(192);
  for (auto& v : x) v = static_cast<int8_t>(rng());
  std::vector<int8_t> y1(3), y2(3);
  uint32_t us = 0;
  CHECK(e.classify(x.data(), x.size(), y1.data(), 3, &us) == sorter::Status::kOk);
  CHECK(e.classify(x.data(), x.size(), y2.data(), 3, &us) == sorter::Status::kOk);
  CHECK(y1 == y2);
  int sum = 0;
  for (int8_t v : y1) sum += v + 128;
  CHECK(std::abs(sum - 256) <= 3);
  CHECK(e.classify(x.data(), x.size() - 1, y1.data(), 3, &us) == sorter::Status::kBadInput);
  CHECK(e.classify(x.data(), x.size(), y1.data(), 2, &us) == sorter::Status::kBadInput);
  CHECK_EQ(e.dump_tensor_count(), 6);
  const int8_t* d = nullptr;
  size_t n = 0;
  const char* name = nullptr;
  CHECK(e.dump_tensor(0, &d, &n, &name) == sorter::Status::kOk);
  CHECK(std::string(name) == "conv" && n == 64);
  CHECK(e.dump_tensor(5, &d, &n, &name) == sorter::Status::kOk);
  CHECK(std::string(name) == "probs" && n == 3 && std::memcmp(d, y2.data(), 3) == 0);
  CHECK(e.dump_tensor(6, &d, &n, &name) == sorter::Status::kNoSuchTensor);
  // The last layer before softmax must equal a hand computation from the dumped MEAN output.
  {
    const int8_t* mean = nullptr;
    const int8_t* logits = nullptr;
    e.dump_tensor(3, &mean, &n, &name);
    e.dump_tensor(4, &logits, &n, &name);
    const testmodel::Model m = small_model(5, false);
    const int8_t* w = reinterpret_cast<const int8_t*>(m.tensors[10].data.data());
    const int32_t bias[3] = {10, 0, -10};
    int32_t mult = 0;
    int shift = 0;
    fp::quantize_multiplier(0.03 * static_cast<double>(0.05f) / static_cast<double>(0.1f) * (static_cast<double>(0.03f) / 0.03),
                            Rounding::kDouble, &mult, &shift);
    fp::quantize_multiplier(static_cast<double>(0.03f) * static_cast<double>(0.05f) / static_cast<double>(0.1f),
                            Rounding::kDouble, &mult, &shift);
    for (int o = 0; o < 3; ++o) {
      int32_t acc = bias[o];
      for (int i = 0; i < 4; ++i) acc += w[o * 4 + i] * (mean[i] + 90);
      const int32_t v = std::min(127, std::max(-128, fp::multiply_by_quantized_multiplier(acc, mult, shift, Rounding::kDouble) + 3));
      CHECK_EQ(logits[o], v);
    }
  }
  // Switching rounding re-prepares; both variants run and stay deterministic.
  e.set_rounding(Rounding::kSingle);
  CHECK(e.ready());
  CHECK(e.classify(x.data(), x.size(), y1.data(), 3, &us) == sorter::Status::kOk);
  CHECK(e.classify(x.data(), x.size(), y2.data(), 3, &us) == sorter::Status::kOk);
  CHECK(y1 == y2);
  // The xnnpack arithmetic: names round-trip, the model re-prepares, runs repeatably, and stays close
  // to single rounding (the two differ only where a requantization lands near a tie).
  {
    Rounding parsed = Rounding::kDouble;
    CHECK(parse_rounding("xnnpack", &parsed) && parsed == Rounding::kXnnpack);
    CHECK(std::string(rounding_name(Rounding::kXnnpack)) == "xnnpack");
    CHECK(!parse_rounding("fast", &parsed) && !parse_rounding(nullptr, &parsed));
    std::vector<int8_t> yx1(3), yx2(3);
    e.set_rounding(Rounding::kXnnpack);
    CHECK(e.ready() && e.rounding() == Rounding::kXnnpack);
    CHECK(e.classify(x.data(), x.size(), yx1.data(), 3, &us) == sorter::Status::kOk);
    CHECK(e.classify(x.data(), x.size(), yx2.data(), 3, &us) == sorter::Status::kOk);
    CHECK(yx1 == yx2);
    for (int i = 0; i < 3; ++i) CHECK(std::abs(yx1[i] - y1[i]) <= 2);
    e.set_rounding(Rounding::kSingle);
  }
  // QUANTIZE (int8 requantize) -> RELU -> RELU6 -> DEQUANTIZE, values worked out by hand.
  {
    testmodel::Model m;
    m.tensors.push_back({"in", 9, {1, 4}, {0.5f}, {0}, 0, {}});
    m.tensors.push_back({"q", 9, {1, 4}, {0.25f}, {10}, 0, {}});
    m.tensors.push_back({"relu", 9, {1, 4}, {0.25f}, {-20}, 0, {}});
    m.tensors.push_back({"relu6", 9, {1, 4}, {0.25f}, {-20}, 0, {}});
    m.tensors.push_back({"deq", 0, {1, 4}, {}, {}, 0, {}});
    m.ops.push_back({114, {0}, {1}, 0, nullptr, false});
    m.ops.push_back({19, {1}, {2}, 0, nullptr, false});
    m.ops.push_back({21, {2}, {3}, 0, nullptr, false});
    m.ops.push_back({6, {3}, {4}, 0, nullptr, false});
    m.inputs = {0};
    m.outputs = {4};
    const auto b = testmodel::build(m);
    EngineClassifier q;
    CHECK(q.load(b.data(), b.size()));
    if (!q.ready()) std::printf("load failed: %s\n", q.last_error());
    const int8_t in[4] = {-3, 0, 1, 60};
    CHECK(q.invoke(reinterpret_cast<const uint8_t*>(in), 4) == sorter::Status::kOk);
    const int8_t* d = nullptr;
    size_t n = 0;
    const char* name = nullptr;
    q.dump_tensor(0, &d, &n, &name);
    CHECK(d[0] == 4 && d[1] == 10 && d[2] == 12 && d[3] == 127);  // 2x + 10, saturated
    q.dump_tensor(1, &d, &n, &name);
    CHECK(d[0] == -20 && d[1] == -20 && d[2] == -18 && d[3] == 97);  // (q - 10) - 20, floor at -20
    q.dump_tensor(2, &d, &n, &name);
    CHECK(d[0] == -20 && d[1] == -20 && d[2] == -18 && d[3] == 4);  // six = -20 + 6 / 0.25
    float f[4];
    CHECK(q.output_bytes() == 16);
    std::memcpy(f, q.output(), 16);
    CHECK(f[0] == 0.0f && f[1] == 0.0f && f[2] == 0.5f && f[3] == 6.0f);
    std::vector<int8_t> s(4);
    CHECK(q.classify(in, 4, s.data(), 4, nullptr) == sorter::Status::kInvokeFailed);  // float output
  }
  // Not loaded.
  EngineClassifier empty;
  CHECK(!empty.ready());
  CHECK(empty.classify(x.data(), x.size(), y1.data(), 3, &us) == sorter::Status::kNotReady);
}

int main(int argc, char** argv) {
  const std::string group = argc > 1 ? argv[1] : "all";
  if (group == "write-seed" && argc > 2) {
    // Writes the test classifier as a .tflite (the fuzz target's seed corpus).
    const std::vector<uint8_t> bytes = testmodel::build(small_model(1, false));
    FILE* f = std::fopen(argv[2], "wb");
    if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) return 1;
    std::fclose(f);
    return 0;
  }
  bool ran = false;
  if (group == "fixed_point" || group == "all") { test_fixed_point(); ran = true; }
  if (group == "sha256" || group == "all") { test_sha256(); ran = true; }
  if (group == "kernels" || group == "all") { test_kernels(); ran = true; }
  if (group == "xnnpack" || group == "all") { test_xnnpack(); ran = true; }
  if (group == "parser" || group == "all") { test_parser(); ran = true; }
  if (group == "engine" || group == "all") { test_engine(); ran = true; }
  if (!ran) {
    std::printf("unknown test group %s\n", group.c_str());
    return 2;
  }
  std::printf("%s: %s (%d failures)\n", group.c_str(), g_failures ? "FAIL" : "ok", g_failures);
  return g_failures ? 1 : 0;
}
