#include "int8_engine/fixed_point.h"

#include <algorithm>
#include <cmath>

namespace int8_engine {
namespace fp {

bool quantize_multiplier(double real, Rounding r, int32_t* multiplier, int* shift) {
  *multiplier = 0;
  *shift = 0;
  if (!(real >= 0.0) || std::isinf(real)) return false;  // also rejects NaN
  if (real == 0.0) return true;
  int exponent = 0;
  const double q = std::frexp(real, &exponent);
  // TfLiteRound is std::round: halves away from zero.
  int64_t q_fixed = static_cast<int64_t>(std::round(q * static_cast<double>(int64_t{1} << 31)));
  if (q_fixed == (int64_t{1} << 31)) {
    q_fixed /= 2;
    ++exponent;
  }
  if (exponent < -31) {
    exponent = 0;
    q_fixed = 0;
  }
  if (r != Rounding::kDouble && exponent > 30) {
    exponent = 30;
    q_fixed = (int64_t{1} << 31) - 1;
  }
  *multiplier = static_cast<int32_t>(q_fixed);
  *shift = exponent;
  return true;
}

bool add_params_fp32(float a_scale, float b_scale, float out_scale, int32_t a_zero_point, int32_t b_zero_point,
                     AddFp32Params* p) {
  const float a_ratio = a_scale / out_scale;
  const float b_ratio = b_scale / out_scale;
  const float lo = std::ldexp(1.0f, -10), hi = std::ldexp(1.0f, 8);
  if (!(a_ratio >= lo && a_ratio < hi && b_ratio >= lo && b_ratio < hi)) return false;
  const float max_ratio = std::max(a_ratio, b_ratio);
  int exponent = 0;
  std::frexp(max_ratio, &exponent);  // max_ratio = m * 2^exponent, m in [0.5, 1)
  // XNNPACK: shift = 20 - floor(log2(max_ratio)), so the larger multiplier lies in [2^20, 2^21].
  p->shift = 20 - (exponent - 1);
  // Scaling by 2^shift is exact; the rounding to an integer is lrintf's (ties to even).
  p->a_multiplier = static_cast<int32_t>(round_half_even(std::ldexp(a_ratio, p->shift)));
  p->b_multiplier = static_cast<int32_t>(round_half_even(std::ldexp(b_ratio, p->shift)));
  const int64_t bias = (int64_t{1} << (p->shift - 1)) - int64_t{p->a_multiplier} * a_zero_point -
                       int64_t{p->b_multiplier} * b_zero_point;
  p->bias = static_cast<int32_t>(bias);  // |bias| < 2^30 for int8 zero points
  return true;
}

int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
  const int32_t constant_term = 1895147668;     // exp(-1/8) in Q0.31
  const int32_t constant_1_over_3 = 715827883;  // 1/3 in Q0.31
  // Taylor expansion around -1/8: x = a + 1/8.
  const int32_t x = wrap_add(a, int32_t{1} << 28);
  const int32_t x2 = saturating_rounding_doubling_high_mul(x, x);
  const int32_t x3 = saturating_rounding_doubling_high_mul(x2, x);
  const int32_t x4 = saturating_rounding_doubling_high_mul(x2, x2);
  const int32_t x4_over_4 = rounding_divide_by_pot(x4, 2);
  const int32_t poly = rounding_divide_by_pot(
      wrap_add(saturating_rounding_doubling_high_mul(wrap_add(x4_over_4, x3), constant_1_over_3), x2), 1);
  return wrap_add(constant_term, saturating_rounding_doubling_high_mul(constant_term, wrap_add(x, poly)));
}

int32_t exp_on_negative_values_q5_26(int32_t a) {
  constexpr int kIntegerBits = 5;
  constexpr int kFractionalBits = 31 - kIntegerBits;
  const int32_t one_quarter = int32_t{1} << (kFractionalBits - 2);
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod_quarter_minus_one_quarter = wrap_sub(a & mask, one_quarter);
  int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(
      rescale(a_mod_quarter_minus_one_quarter, kIntegerBits, 0));
  const int32_t remainder = wrap_sub(a_mod_quarter_minus_one_quarter, a);
  // exp(-2^k) in Q0.31 for k = -2 .. 4, applied for each set bit of the remainder.
  static const int32_t kMultipliers[7] = {1672461947, 1302514674, 790015084, 290630308,
                                          39332535,   720401,     242};
  for (int k = -2; k <= 4; ++k) {
    if (kIntegerBits > k) {
      const int shift_amount = kFractionalBits + k;
      if (remainder & (int32_t{1} << shift_amount)) {
        result = saturating_rounding_doubling_high_mul(result, kMultipliers[k + 2]);
      }
    }
  }
  if (a == 0) result = INT32_MAX;  // exactly one
  return result;
}

static int32_t rounding_half_sum(int32_t a, int32_t b) {
  const int64_t sum = static_cast<int64_t>(a) + static_cast<int64_t>(b);
  const int64_t sign = sum >= 0 ? 1 : -1;
  return static_cast<int32_t>((sum + sign) / 2);
}

int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a) {
  // Newton-Raphson on the half denominator in Q2.29, starting from 48/17 - 32/17 * d.
  const int32_t half_denominator = rounding_half_sum(a, INT32_MAX);
  const int32_t constant_48_over_17 = 1515870810;
  const int32_t constant_neg_32_over_17 = -1010580540;
  const int32_t one_q2 = int32_t{1} << 29;
  int32_t x = wrap_add(constant_48_over_17,
                       saturating_rounding_doubling_high_mul(half_denominator, constant_neg_32_over_17));
  for (int i = 0; i < 3; ++i) {
    const int32_t half_denominator_times_x = saturating_rounding_doubling_high_mul(half_denominator, x);
    const int32_t one_minus = wrap_sub(one_q2, half_denominator_times_x);
    // Q2 * Q2 = Q4, rescaled back to Q2.
    x = wrap_add(x, rescale(saturating_rounding_doubling_high_mul(x, one_minus), 4, 2));
  }
  // x / 2 taken from Q1 to Q0.
  return rescale(x, 1, 0);
}

static int count_leading_zeros(uint32_t v) {
  if (v == 0) return 32;
  int n = 0;
  while ((v & 0x80000000u) == 0) {
    v <<= 1;
    ++n;
  }
  return n;
}

int32_t get_reciprocal(int32_t x, int x_integer_digits, int* num_bits_over_unit) {
  const int headroom_plus_one = count_leading_zeros(static_cast<uint32_t>(x));
  *num_bits_over_unit = x_integer_digits - headroom_plus_one;
  const uint32_t shifted = headroom_plus_one >= 32 ? 0u : (static_cast<uint32_t>(x) << headroom_plus_one);
  const int32_t shifted_sum_minus_one = static_cast<int32_t>(shifted - (uint32_t{1} << 31));
  return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
}

bool preprocess_softmax_scaling(double beta, double input_scale, int input_integer_bits, Rounding r,
                                int32_t* multiplier, int* left_shift) {
  const double max_real_multiplier =
      r != Rounding::kDouble ? (double((int64_t{1} << 30)) - 1.0) : (double((int64_t{1} << 31)) - 1.0);
  const double real = std::min<double>(
      beta * input_scale * static_cast<double>(int64_t{1} << (31 - input_integer_bits)), max_real_multiplier);
  if (!(real > 1.0)) return false;  // TFLite CHECKs this (QuantizeMultiplierGreaterThanOne)
  if (!quantize_multiplier(real, r, multiplier, left_shift)) return false;
  return *left_shift >= 0;
}

int calculate_input_radius(int input_integer_bits, int input_left_shift, int total_signed_bits) {
  const double max_input_rescaled = 1.0 * ((1 << input_integer_bits) - 1) *
                                    static_cast<double>(int64_t{1} << (total_signed_bits - input_integer_bits)) /
                                    static_cast<double>(int64_t{1} << input_left_shift);
  return static_cast<int>(std::floor(max_input_rescaled));
}

}  // namespace fp
}  // namespace int8_engine
