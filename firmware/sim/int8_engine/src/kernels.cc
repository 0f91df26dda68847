#include "int8_engine/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "int8_engine/fixed_point.h"

namespace int8_engine {
namespace kernels {

namespace {

inline size_t offset4(const Shape4& s, int n, int h, int w, int c) {
  return ((static_cast<size_t>(n) * s.h + h) * s.w + w) * s.c + c;
}

inline int8_t clamp_to_int8(int32_t v, int32_t lo, int32_t hi) {
  return static_cast<int8_t>(std::min(std::max(v, lo), hi));
}

// Accumulation wraps modulo 2^32 like the device's int32 adds; unsigned arithmetic keeps that defined.
inline int32_t finish_accumulator(uint32_t acc, const int32_t* bias, int channel, int32_t multiplier,
                                  int shift, const float* scales, int scale_index, int32_t output_offset,
                                  int32_t act_min, int32_t act_max, Rounding r) {
  if (bias) acc += static_cast<uint32_t>(bias[channel]);
  if (r == Rounding::kXnnpack) {
    return fp::requantize_fp32(static_cast<int32_t>(acc), scales[scale_index], output_offset, act_min, act_max);
  }
  int32_t v = fp::multiply_by_quantized_multiplier(static_cast<int32_t>(acc), multiplier, shift, r);
  v = fp::wrap_add(v, output_offset);
  return std::min(std::max(v, act_min), act_max);
}

}  // namespace

void conv2d(const ConvParams& p, const Shape4& in, const int8_t* input, const Shape4& filter,
            const int8_t* filter_data, const int32_t* bias, const Shape4& out, int8_t* output) {
  const int in_depth = in.c;
  for (int b = 0; b < out.n; ++b) {
    for (int oy = 0; oy < out.h; ++oy) {
      const int in_y_origin = oy * p.stride_h - p.pad_h;
      for (int ox = 0; ox < out.w; ++ox) {
        const int in_x_origin = ox * p.stride_w - p.pad_w;
        for (int oc = 0; oc < out.c; ++oc) {
          uint32_t acc = 0;
          for (int fy = 0; fy < filter.h; ++fy) {
            const int in_y = in_y_origin + p.dilation_h * fy;
            if (in_y < 0 || in_y >= in.h) continue;
            for (int fx = 0; fx < filter.w; ++fx) {
              const int in_x = in_x_origin + p.dilation_w * fx;
              if (in_x < 0 || in_x >= in.w) continue;
              const int8_t* x = input + offset4(in, b, in_y, in_x, 0);
              const int8_t* f = filter_data + offset4(filter, oc, fy, fx, 0);
              for (int ic = 0; ic < in_depth; ++ic) {
                acc += static_cast<uint32_t>(static_cast<int32_t>(f[ic]) * (x[ic] + p.input_offset));
              }
            }
          }
          output[offset4(out, b, oy, ox, oc)] = static_cast<int8_t>(
              finish_accumulator(acc, bias, oc, p.multipliers[oc], p.shifts[oc], p.scales, oc, p.output_offset, p.act_min,
                                 p.act_max, p.rounding));
        }
      }
    }
  }
}

void depthwise_conv2d(const ConvParams& p, const Shape4& in, const int8_t* input, const Shape4& filter,
                      const int8_t* filter_data, const int32_t* bias, const Shape4& out, int8_t* output) {
  for (int b = 0; b < out.n; ++b) {
    for (int oy = 0; oy < out.h; ++oy) {
      const int in_y_origin = oy * p.stride_h - p.pad_h;
      for (int ox = 0; ox < out.w; ++ox) {
        const int in_x_origin = ox * p.stride_w - p.pad_w;
        for (int ic = 0; ic < in.c; ++ic) {
          for (int m = 0; m < p.depth_multiplier; ++m) {
            const int oc = m + ic * p.depth_multiplier;
            uint32_t acc = 0;
            for (int fy = 0; fy < filter.h; ++fy) {
              const int in_y = in_y_origin + p.dilation_h * fy;
              if (in_y < 0 || in_y >= in.h) continue;
              for (int fx = 0; fx < filter.w; ++fx) {
                const int in_x = in_x_origin + p.dilation_w * fx;
                if (in_x < 0 || in_x >= in.w) continue;
                const int32_t x = input[offset4(in, b, in_y, in_x, ic)];
                const int32_t f = filter_data[offset4(filter, 0, fy, fx, oc)];
                acc += static_cast<uint32_t>(f * (x + p.input_offset));
              }
            }
            output[offset4(out, b, oy, ox, oc)] = static_cast<int8_t>(
                finish_accumulator(acc, bias, oc, p.multipliers[oc], p.shifts[oc], p.scales, oc, p.output_offset, p.act_min,
                                   p.act_max, p.rounding));
          }
        }
      }
    }
  }
}

void fully_connected(const FullyConnectedParams& p, int batches, int accum_depth, int output_depth,
                     const int8_t* input, const int8_t* weights, const int32_t* bias, int8_t* output) {
  for (int b = 0; b < batches; ++b) {
    const int8_t* x = input + static_cast<size_t>(b) * accum_depth;
    for (int oc = 0; oc < output_depth; ++oc) {
      const int8_t* w = weights + static_cast<size_t>(oc) * accum_depth;
      uint32_t acc = 0;
      for (int d = 0; d < accum_depth; ++d) {
        acc += static_cast<uint32_t>((w[d] + p.filter_offset) * (x[d] + p.input_offset));
      }
      const int ch = p.per_channel ? oc : 0;
      output[static_cast<size_t>(b) * output_depth + oc] = static_cast<int8_t>(
          finish_accumulator(acc, bias, oc, p.multipliers[ch], p.shifts[ch], p.scales, ch, p.output_offset, p.act_min,
                             p.act_max, p.rounding));
    }
  }
}

void add(const AddParams& p, const Shape4& s1, const int8_t* in1, const Shape4& s2, const int8_t* in2,
         const Shape4& out, int8_t* output) {
  auto bcast = [](const Shape4& s, int n, int h, int w, int c) {
    return offset4(s, s.n == 1 ? 0 : n, s.h == 1 ? 0 : h, s.w == 1 ? 0 : w, s.c == 1 ? 0 : c);
  };
  const Rounding r = p.rounding;
  for (int n = 0; n < out.n; ++n) {
    for (int h = 0; h < out.h; ++h) {
      for (int w = 0; w < out.w; ++w) {
        for (int c = 0; c < out.c; ++c) {
          if (r == Rounding::kXnnpack) {
            // Zero points are folded into the bias; |acc| < 2^31 for int8 inputs and 21-bit multipliers.
            const int64_t acc = int64_t{p.xnn.bias} + int64_t{in1[bcast(s1, n, h, w, c)]} * p.xnn.a_multiplier +
                                int64_t{in2[bcast(s2, n, h, w, c)]} * p.xnn.b_multiplier;
            const int64_t v = (acc >> p.xnn.shift) + p.output_offset;  // arithmetic shift: floor
            output[offset4(out, n, h, w, c)] = static_cast<int8_t>(std::min<int64_t>(std::max<int64_t>(v, p.act_min), p.act_max));
            continue;
          }
          const int32_t v1 = p.input1_offset + in1[bcast(s1, n, h, w, c)];
          const int32_t v2 = p.input2_offset + in2[bcast(s2, n, h, w, c)];
          const int32_t shifted1 = fp::wrap_shl(v1, p.left_shift);
          const int32_t shifted2 = fp::wrap_shl(v2, p.left_shift);
          const int32_t scaled1 = fp::multiply_by_quantized_multiplier_smaller_than_one_exp(
              shifted1, p.input1_multiplier, p.input1_shift, r);
          const int32_t scaled2 = fp::multiply_by_quantized_multiplier_smaller_than_one_exp(
              shifted2, p.input2_multiplier, p.input2_shift, r);
          const int32_t raw_sum = fp::wrap_add(scaled1, scaled2);
          const int32_t raw_out = fp::wrap_add(fp::multiply_by_quantized_multiplier_smaller_than_one_exp(
                                                   raw_sum, p.output_multiplier, p.output_shift, r),
                                               p.output_offset);
          output[offset4(out, n, h, w, c)] = clamp_to_int8(raw_out, p.act_min, p.act_max);
        }
      }
    }
  }
}

void average_pool(const PoolParams& p, const Shape4& in, const int8_t* input, const Shape4& out, int8_t* output) {
  for (int b = 0; b < out.n; ++b) {
    for (int oy = 0; oy < out.h; ++oy) {
      for (int ox = 0; ox < out.w; ++ox) {
        const int in_x_origin = ox * p.stride_w - p.pad_w;
        const int in_y_origin = oy * p.stride_h - p.pad_h;
        const int fx_start = std::max(0, -in_x_origin);
        const int fx_end = std::min(p.filter_w, in.w - in_x_origin);
        const int fy_start = std::max(0, -in_y_origin);
        const int fy_end = std::min(p.filter_h, in.h - in_y_origin);
        for (int c = 0; c < out.c; ++c) {
          int32_t acc = 0;
          int32_t count = 0;
          for (int fy = fy_start; fy < fy_end; ++fy) {
            for (int fx = fx_start; fx < fx_end; ++fx) {
              acc += input[offset4(in, b, in_y_origin + fy, in_x_origin + fx, c)];
              ++count;
            }
          }
          if (count == 0) {
            output[offset4(out, b, oy, ox, c)] = static_cast<int8_t>(p.act_min);
            continue;
          }
          // Round half away from zero, as TFLM's reference average pool does.
          acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
          output[offset4(out, b, oy, ox, c)] = clamp_to_int8(acc, p.act_min, p.act_max);
        }
      }
    }
  }
}

void max_pool(const PoolParams& p, const Shape4& in, const int8_t* input, const Shape4& out, int8_t* output) {
  for (int b = 0; b < out.n; ++b) {
    for (int oy = 0; oy < out.h; ++oy) {
      for (int ox = 0; ox < out.w; ++ox) {
        const int in_x_origin = ox * p.stride_w - p.pad_w;
        const int in_y_origin = oy * p.stride_h - p.pad_h;
        const int fx_start = std::max(0, -in_x_origin);
        const int fx_end = std::min(p.filter_w, in.w - in_x_origin);
        const int fy_start = std::max(0, -in_y_origin);
        const int fy_end = std::min(p.filter_h, in.h - in_y_origin);
        for (int c = 0; c < out.c; ++c) {
          int32_t best = -128;
          for (int fy = fy_start; fy < fy_end; ++fy) {
            for (int fx = fx_start; fx < fx_end; ++fx) {
              best = std::max<int32_t>(best, input[offset4(in, b, in_y_origin + fy, in_x_origin + fx, c)]);
            }
          }
          output[offset4(out, b, oy, ox, c)] = clamp_to_int8(best, p.act_min, p.act_max);
        }
      }
    }
  }
}

static int count_leading_zeros64(uint64_t v) {
  if (v == 0) return 64;
  int n = 0;
  while ((v & (uint64_t{1} << 63)) == 0) {
    v <<= 1;
    ++n;
  }
  return n;
}

void mean_hw(const MeanParams& p, const Shape4& in, const int8_t* input, int8_t* output) {
  const int64_t num = static_cast<int64_t>(in.h) * in.w;
  if (num <= 0) {
    for (int i = 0; i < in.n * in.c; ++i) output[i] = 0;
    return;
  }
  int32_t multiplier = p.multiplier;
  int shift = p.shift;
  if (!p.same_quantization) {
    // Fold 1/num into the multiplier the way TFLM's QuantizedMeanOrSum does.
    int s = 63 - count_leading_zeros64(static_cast<uint64_t>(num));
    s = std::min(s, 32);
    s = std::min(s, 31 + shift);
    if (s < 0) s = 0;
    multiplier = static_cast<int32_t>((static_cast<int64_t>(multiplier) << s) / num);
    shift -= s;
  }
  for (int b = 0; b < in.n; ++b) {
    for (int c = 0; c < in.c; ++c) {
      uint32_t sum = 0;
      for (int y = 0; y < in.h; ++y) {
        for (int x = 0; x < in.w; ++x) sum += static_cast<uint32_t>(static_cast<int32_t>(input[offset4(in, b, y, x, c)]));
      }
      int32_t v;
      if (p.rounding == Rounding::kXnnpack) {
        // XNNPACK's mean: the zero-point-corrected int32 sum, scaled in float, rounded half to even.
        const int32_t centred =
            static_cast<int32_t>(static_cast<int64_t>(static_cast<int32_t>(sum)) - p.input_zero_point * num);
        v = fp::requantize_fp32(centred, p.xnn_scale, p.output_zero_point, -128, 127);
      } else if (p.same_quantization) {
        // reference_ops::Mean: integer division of the raw sum, truncating toward zero.
        v = static_cast<int32_t>(static_cast<int64_t>(static_cast<int32_t>(sum)) / num);
      } else {
        const int32_t shifted_sum =
            static_cast<int32_t>(static_cast<int64_t>(static_cast<int32_t>(sum)) - p.input_zero_point * num);
        v = fp::wrap_add(fp::multiply_by_quantized_multiplier(shifted_sum, multiplier, shift, p.rounding),
                         p.output_zero_point);
      }
      output[static_cast<size_t>(b) * in.c + c] = clamp_to_int8(v, -128, 127);
    }
  }
}

void softmax(const SoftmaxParams& p, size_t outer, size_t depth, const int8_t* input, int8_t* output) {
  constexpr int kScaledDiffIntegerBits = 5;
  constexpr int kAccumulationIntegerBits = 12;
  for (size_t i = 0; i < outer; ++i) {
    const int8_t* x = input + i * depth;
    int8_t* y = output + i * depth;
    int32_t max_in_row = -128;
    for (size_t c = 0; c < depth; ++c) max_in_row = std::max<int32_t>(max_in_row, x[c]);

    int32_t sum_of_exps = 0;  // Q12.19
    for (size_t c = 0; c < depth; ++c) {
      const int32_t diff = static_cast<int32_t>(x[c]) - max_in_row;
      if (diff >= p.diff_min) {
        const int32_t rescaled = fp::multiply_by_quantized_multiplier_greater_than_one(
            diff, p.input_multiplier, p.input_left_shift, p.rounding);
        sum_of_exps = fp::wrap_add(
            sum_of_exps, fp::rescale(fp::exp_on_negative_values_q5_26(rescaled), 0, kAccumulationIntegerBits));
      }
    }
    int num_bits_over_unit = 0;
    const int32_t shifted_scale = fp::get_reciprocal(sum_of_exps, kAccumulationIntegerBits, &num_bits_over_unit);
    int exponent = num_bits_over_unit + 31 - 8;
    exponent = std::min(std::max(exponent, 0), 31);
    for (size_t c = 0; c < depth; ++c) {
      const int32_t diff = static_cast<int32_t>(x[c]) - max_in_row;
      if (diff >= p.diff_min) {
        const int32_t rescaled = fp::multiply_by_quantized_multiplier_greater_than_one(
            diff, p.input_multiplier, p.input_left_shift, p.rounding);
        const int32_t exp_in_0 = fp::exp_on_negative_values_q5_26(rescaled);
        const int32_t unsat = fp::rounding_divide_by_pot(
            fp::saturating_rounding_doubling_high_mul(shifted_scale, exp_in_0), exponent);
        y[c] = clamp_to_int8(fp::wrap_add(unsat, -128), -128, 127);
      } else {
        y[c] = -128;
      }
    }
  }
  (void)kScaledDiffIntegerBits;
}

void pad(const Shape4& in, const int8_t* input, const int pads[4][2], int8_t pad_value, const Shape4& out,
         int8_t* output) {
  std::memset(output, static_cast<unsigned char>(pad_value), out.size());
  for (int n = 0; n < in.n; ++n) {
    for (int h = 0; h < in.h; ++h) {
      for (int w = 0; w < in.w; ++w) {
        std::memcpy(output + offset4(out, n + pads[0][0], h + pads[1][0], w + pads[2][0], pads[3][0]),
                    input + offset4(in, n, h, w, 0), static_cast<size_t>(in.c));
      }
    }
  }
}

void requantize(size_t n, const int8_t* input, int32_t input_zp, int32_t multiplier, int shift,
                int32_t output_zp, Rounding r, int8_t* output) {
  for (size_t i = 0; i < n; ++i) {
    const int32_t v = fp::multiply_by_quantized_multiplier(input[i] - input_zp, multiplier, shift, r);
    output[i] = clamp_to_int8(fp::wrap_add(v, output_zp), -128, 127);
  }
}

void quantize_float(size_t n, const float* input, float scale, int32_t zero_point, int8_t* output) {
  for (size_t i = 0; i < n; ++i) {
    const float q = std::round(input[i] / scale);
    int32_t v;
    if (!(q == q)) {
      v = zero_point;
    } else if (q > 1e9f) {
      v = 127;
    } else if (q < -1e9f) {
      v = -128;
    } else {
      v = static_cast<int32_t>(q) + zero_point;
    }
    output[i] = clamp_to_int8(v, -128, 127);
  }
}

void dequantize(size_t n, const int8_t* input, float scale, int32_t zero_point, float* output) {
  const double s = scale;
  for (size_t i = 0; i < n; ++i) output[i] = static_cast<float>(s * (input[i] - zero_point));
}

}  // namespace kernels
}  // namespace int8_engine
