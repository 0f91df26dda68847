// Inline helpers of the integer kernels (TFLM: tensorflow/lite/kernels/internal/common.h and types.h).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "int8_engine/fixed_point.h"
#include "int8_engine/kernels.h"

namespace int8_engine {
namespace kernels {

inline size_t offset4(const Shape4& s, int n, int h, int w, int c) {
  return ((static_cast<size_t>(n) * s.h + h) * s.w + w) * s.c + c;
}

inline int8_t clamp_to_int8(int32_t v, int32_t lo, int32_t hi) {
  return static_cast<int8_t>(std::min(std::max(v, lo), hi));
}

// Bias, requantization, output offset and activation clamp of one CONV_2D / DEPTHWISE_CONV_2D /
// FULLY_CONNECTED accumulator. Accumulation wraps modulo 2^32 like the device's int32 adds; unsigned
// arithmetic keeps that defined.
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

}  // namespace kernels
}  // namespace int8_engine
