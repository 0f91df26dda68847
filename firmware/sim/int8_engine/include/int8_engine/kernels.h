// Int8 kernels with TensorFlow Lite Micro reference semantics (tensorflow/lite/kernels/internal/
// reference/integer_ops). Shapes are NHWC; callers (the engine's operators, the unit tests) validate
// sizes. Each kernel is defined in its operator's file under src/ops/ (conv2d in conv.cc, ...).
#pragma once

#include <cstddef>
#include <cstdint>

#include "int8_engine/engine.h"
#include "int8_engine/fixed_point.h"

namespace int8_engine {
namespace kernels {

struct Shape4 {
  int n = 1, h = 1, w = 1, c = 1;
  size_t size() const { return static_cast<size_t>(n) * h * w * c; }
};

struct ConvParams {
  int stride_w = 1, stride_h = 1, dilation_w = 1, dilation_h = 1;
  int pad_w = 0, pad_h = 0;          // top/left padding
  int depth_multiplier = 1;          // depthwise only
  int32_t input_offset = 0;          // -input zero point
  int32_t output_offset = 0;         // output zero point
  int32_t act_min = -128, act_max = 127;
  const int32_t* multipliers = nullptr;  // one per output channel
  const int32_t* shifts = nullptr;
  const float* scales = nullptr;  // kXnnpack: float s_in * s_w[c] / s_out per output channel
  Rounding rounding = Rounding::kDouble;
};

// filter: [out_c, kh, kw, in_c]; bias: out_c int32 or nullptr.
void conv2d(const ConvParams& p, const Shape4& in, const int8_t* input, const Shape4& filter,
            const int8_t* filter_data, const int32_t* bias, const Shape4& out, int8_t* output);
// filter: [1, kh, kw, out_c] with out_c = in_c * depth_multiplier.
void depthwise_conv2d(const ConvParams& p, const Shape4& in, const int8_t* input, const Shape4& filter,
                      const int8_t* filter_data, const int32_t* bias, const Shape4& out, int8_t* output);

struct FullyConnectedParams {
  int32_t input_offset = 0, filter_offset = 0, output_offset = 0;
  int32_t act_min = -128, act_max = 127;
  const int32_t* multipliers = nullptr;  // per output channel when per_channel, else [0] only
  const int32_t* shifts = nullptr;
  const float* scales = nullptr;  // kXnnpack, indexed like multipliers
  bool per_channel = false;
  Rounding rounding = Rounding::kDouble;
};
// weights: [output_depth, accum_depth].
void fully_connected(const FullyConnectedParams& p, int batches, int accum_depth, int output_depth,
                     const int8_t* input, const int8_t* weights, const int32_t* bias, int8_t* output);

struct AddParams {
  int32_t input1_offset = 0, input2_offset = 0, output_offset = 0;
  int left_shift = 20;
  int32_t input1_multiplier = 0, input2_multiplier = 0, output_multiplier = 0;
  int input1_shift = 0, input2_shift = 0, output_shift = 0;
  int32_t act_min = -128, act_max = 127;
  Rounding rounding = Rounding::kDouble;
  fp::AddFp32Params xnn;  // kXnnpack
};
// Broadcasting add over 4D shapes (a dimension of size 1 broadcasts).
void add(const AddParams& p, const Shape4& s1, const int8_t* in1, const Shape4& s2, const int8_t* in2,
         const Shape4& out, int8_t* output);

struct PoolParams {
  int stride_w = 1, stride_h = 1, filter_w = 1, filter_h = 1, pad_w = 0, pad_h = 0;
  int32_t act_min = -128, act_max = 127;
};
void average_pool(const PoolParams& p, const Shape4& in, const int8_t* input, const Shape4& out, int8_t* output);
void max_pool(const PoolParams& p, const Shape4& in, const int8_t* input, const Shape4& out, int8_t* output);

struct MeanParams {
  int32_t input_zero_point = 0, output_zero_point = 0;
  int32_t multiplier = 0;  // QuantizeMultiplier(input_scale / output_scale)
  int shift = 0;
  bool same_quantization = false;  // equal scales and zero points: TFLM takes the plain integer mean
  float xnn_scale = 0.0f;  // kXnnpack: float(float(s_in / s_out) * float(1 / N))
  Rounding rounding = Rounding::kDouble;
};
// Mean over H and W: output has in.n * in.c values.
void mean_hw(const MeanParams& p, const Shape4& in, const int8_t* input, int8_t* output);

struct SoftmaxParams {
  int32_t input_multiplier = 0;
  int input_left_shift = 0;
  int diff_min = 0;
  Rounding rounding = Rounding::kDouble;
};
// int8 in, int8 out (scale 1/256, zero point -128) over the last dimension.
void softmax(const SoftmaxParams& p, size_t outer, size_t depth, const int8_t* input, int8_t* output);

// Constant padding of a 4D tensor; pads[i] = {before, after} for dimension i.
void pad(const Shape4& in, const int8_t* input, const int pads[4][2], int8_t pad_value, const Shape4& out,
         int8_t* output);

void quantize_float(size_t n, const float* input, float scale, int32_t zero_point, int8_t* output);
void dequantize(size_t n, const int8_t* input, float scale, int32_t zero_point, float* output);

}  // namespace kernels
}  // namespace int8_engine
