// TFLite's integer requantization and gemmlowp fixed-point arithmetic, written for this engine so that
// every rounding step matches TensorFlow Lite Micro bit for bit. Signed overflow is avoided by doing
// wrapping arithmetic on unsigned types (the device's 32-bit adds wrap the same way).
#pragma once

#include <cmath>
#include <cstdint>

#include "int8_engine/engine.h"

namespace int8_engine {
namespace fp {

inline int32_t wrap_add(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}
inline int32_t wrap_sub(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b));
}
inline int32_t wrap_shl(int32_t a, int s) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) << s);
}

// High 32 bits of 2*a*b, rounded to nearest (ties away from zero); the single overflow case
// (INT32_MIN * INT32_MIN) saturates to INT32_MAX.
inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
  // Division (not a shift) truncates toward zero, which together with the nudge gives
  // round-half-away-from-zero.
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
}

// x / 2^exponent rounded to nearest, ties away from zero. exponent in [0, 31].
inline int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// x * 2^exponent with saturation, exponent in [0, 31].
inline int32_t saturating_rounding_multiply_by_pot(int32_t x, int exponent) {
  if (exponent == 0) return x;
  const int32_t threshold = static_cast<int32_t>((int64_t{1} << (31 - exponent)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return wrap_shl(x, exponent);
}

// gemmlowp Rescale<dst_bits>(FixedPoint<src_bits>): exponent = src_bits - dst_bits.
inline int32_t rescale(int32_t x, int src_integer_bits, int dst_integer_bits) {
  const int exponent = src_integer_bits - dst_integer_bits;
  if (exponent < 0) return rounding_divide_by_pot(x, -exponent);
  return saturating_rounding_multiply_by_pot(x, exponent);
}

// x * multiplier * 2^shift where multiplier is Q0.31 (TFLite MultiplyByQuantizedMultiplier).
//  kDouble: SRDHM(x << left_shift, m) then rounding_divide_by_pot(right_shift): two roundings.
//  kSingle: (x * m + 2^(30-shift)) >> (31-shift) in 64 bits: one rounding (ties toward +inf).
inline int32_t multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift, Rounding r) {
  if (r != Rounding::kDouble) {
    if (shift > 30) shift = 30;  // QuantizeMultiplier never produces these in single mode
    if (shift < -31) shift = -31;
    const int total_shift = 31 - shift;
    const int64_t round = int64_t{1} << (total_shift - 1);
    int64_t result = static_cast<int64_t>(x) * static_cast<int64_t>(multiplier) + round;
    result >>= total_shift;
    if (result > INT32_MAX) result = INT32_MAX;
    if (result < INT32_MIN) result = INT32_MIN;
    return static_cast<int32_t>(result);
  }
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  if (right_shift > 31) return 0;
  return rounding_divide_by_pot(
      saturating_rounding_doubling_high_mul(wrap_shl(x, left_shift > 31 ? 31 : left_shift), multiplier),
      right_shift);
}

// Variants named as in TFLite; in single-rounding builds both are the general function.
inline int32_t multiply_by_quantized_multiplier_smaller_than_one_exp(int32_t x, int32_t multiplier,
                                                                     int left_shift, Rounding r) {
  if (r != Rounding::kDouble) return multiply_by_quantized_multiplier(x, multiplier, left_shift, r);
  const int rs = -left_shift;
  if (rs > 31 || rs < 0) return rs < 0 ? saturating_rounding_doubling_high_mul(x, multiplier) : 0;
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), rs);
}
inline int32_t multiply_by_quantized_multiplier_greater_than_one(int32_t x, int32_t multiplier,
                                                                 int left_shift, Rounding r) {
  if (r != Rounding::kDouble) return multiply_by_quantized_multiplier(x, multiplier, left_shift, r);
  if (left_shift < 0) left_shift = 0;
  if (left_shift > 31) left_shift = 31;
  return saturating_rounding_doubling_high_mul(wrap_shl(x, left_shift), multiplier);
}

// ---- XNNPACK's float requantization (Rounding::kXnnpack) ----
// Every step is a float32 operation, as in XNNPACK's "fp32" microkernels; the engine is built with
// -ffp-contract=off so that no step is fused into an FMA.

// Nearest integer, ties to even: what the magic-bias addition and lrintf() give under the default FP
// rounding mode. Written out so that it does not depend on the FP environment.
inline float round_half_even(float x) {
  if (!(std::fabs(x) < 8388608.0f)) return x;  // |x| >= 2^23 is already an integer (or NaN/inf)
  const float lower = std::floor(x);
  const float frac = x - lower;  // exact for |x| < 2^23
  if (frac > 0.5f) return lower + 1.0f;
  if (frac < 0.5f) return lower;
  return std::fmod(lower, 2.0f) == 0.0f ? lower : lower + 1.0f;
}

// float(acc) * scale, clamped to [qmin - zp, qmax - zp], rounded half to even, plus zp.
inline int32_t requantize_fp32(int32_t acc, float scale, int32_t zero_point, int32_t qmin, int32_t qmax) {
  float v = static_cast<float>(acc) * scale;
  const float lo = static_cast<float>(qmin - zero_point), hi = static_cast<float>(qmax - zero_point);
  if (!(v >= lo)) v = lo;  // NaN clamps low, as XNNPACK's integer max does
  if (v > hi) v = hi;
  return static_cast<int32_t>(round_half_even(v)) + zero_point;
}

// XNNPACK's quantization of an activation bound: round_half_even(clamp(value / scale + zp, -128, 127)).
inline int32_t quantize_bound_fp32(float value, float scale, int32_t zero_point) {
  float v = value / scale + static_cast<float>(zero_point);
  if (!(v >= -128.0f)) v = -128.0f;
  if (v > 127.0f) v = 127.0f;
  return static_cast<int32_t>(round_half_even(v));
}

// XNNPACK's int8 ADD: out = ((bias + a * a_multiplier + b * b_multiplier) >> shift) + zp_out, with
// multipliers of about 21 bits derived from the float ratios s_a / s_out and s_b / s_out.
struct AddFp32Params {
  int32_t a_multiplier = 0, b_multiplier = 0, bias = 0;
  int shift = 0;
};
// False when a ratio is outside [2^-10, 2^8), the range XNNPACK accepts.
bool add_params_fp32(float a_scale, float b_scale, float out_scale, int32_t a_zero_point, int32_t b_zero_point,
                     AddFp32Params* p);

// TFLite QuantizeMultiplier: m = q * 2^shift with q in [0.5, 1) stored as round(q * 2^31).
// Returns false for NaN/inf/negative inputs the kernels cannot use.
bool quantize_multiplier(double real, Rounding r, int32_t* multiplier, int* shift);

// Softmax helpers (gemmlowp fixed point). Raw int32 values; the comments give the Q format.
int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a_q0_31);
int32_t exp_on_negative_values_q5_26(int32_t a_q5_26);  // returns Q0.31
int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a_q0_31);  // returns Q0.31
// 1/x for a Q(x_integer_digits) x > 0: returns the Q0.31 reciprocal scaled by 2^num_bits_over_unit.
int32_t get_reciprocal(int32_t x, int x_integer_digits, int* num_bits_over_unit);

// TFLite PreprocessSoftmaxScaling and CalculateInputRadius.
bool preprocess_softmax_scaling(double beta, double input_scale, int input_integer_bits, Rounding r,
                                int32_t* multiplier, int* left_shift);
int calculate_input_radius(int input_integer_bits, int input_left_shift, int total_signed_bits = 31);

}  // namespace fp
}  // namespace int8_engine
