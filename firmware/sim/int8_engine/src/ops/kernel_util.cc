#include <algorithm>
#include <cmath>
#include <cstring>

#include "int8_engine/fixed_point.h"
#include "ops/op.h"

namespace int8_engine {
namespace ops {

bool PrepareContext::fail(const std::string& why) {
  error_ = "operator " + std::to_string(index_) + " (" + op_name(op_.code) + "): " + why;
  return false;
}

bool valid_scale(float s) { return s > 0.0f && std::isfinite(s); }

bool is_quantized_int8(const TensorInfo& t) {
  return t.type == TensorType::kInt8 && !t.scales.empty() && valid_scale(t.scales[0]) && !t.zero_points.empty();
}

bool to_shape4(const TensorInfo& t, kernels::Shape4* s) {
  if (t.shape.size() > 4) return false;
  int d[4] = {1, 1, 1, 1};
  const size_t off = 4 - t.shape.size();
  for (size_t i = 0; i < t.shape.size(); ++i) d[off + i] = t.shape[i];
  s->n = d[0];
  s->h = d[1];
  s->w = d[2];
  s->c = d[3];
  return true;
}

// TFLM rounds zp + round(f / s) with ties away from zero; XNNPACK rounds half to even after adding zp.
bool activation_range(Activation a, const TensorInfo& out, int32_t* lo, int32_t* hi, Rounding r) {
  const float scale = out.scale();
  const int32_t zp = out.zero_point();
  auto quantize = [&](float f) -> int32_t {
    if (r == Rounding::kXnnpack) return fp::quantize_bound_fp32(f, scale, zp);
    const float q = std::round(f / scale);
    if (!(q > -1e9f && q < 1e9f)) return f > 0 ? 127 : -128;
    return zp + static_cast<int32_t>(q);
  };
  *lo = -128;
  *hi = 127;
  switch (a) {
    case Activation::kNone: break;
    case Activation::kRelu: *lo = std::max<int32_t>(-128, quantize(0.0f)); break;
    case Activation::kRelu6:
      *lo = std::max<int32_t>(-128, quantize(0.0f));
      *hi = std::min<int32_t>(127, quantize(6.0f));
      break;
    case Activation::kReluN1To1:
      *lo = std::max<int32_t>(-128, quantize(-1.0f));
      *hi = std::min<int32_t>(127, quantize(1.0f));
      break;
  }
  return *lo <= *hi;
}

bool padding_1d(Padding p, int64_t in, int64_t filter, int64_t stride, int64_t dilation, int64_t* out_size,
                int* pad) {
  const int64_t eff = (filter - 1) * dilation + 1;
  *out_size = p == Padding::kSame ? (in + stride - 1) / stride : (in + stride - eff) / stride;
  if (*out_size < 0) *out_size = 0;
  int64_t total = (*out_size - 1) * stride + eff - in;
  if (total < 0) total = 0;
  if (total / 2 > (1 << 24)) return false;
  *pad = static_cast<int>(total / 2);
  return true;
}

bool ChannelRequantization::prepare(float in_scale, const std::vector<float>& weight_scales, float out_scale,
                                    size_t channels, Rounding r) {
  multipliers.assign(channels, 0);
  shifts.assign(channels, 0);
  scales.assign(channels, 0.0f);
  for (size_t c = 0; c < channels; ++c) {
    const float ws = weight_scales.size() == 1 ? weight_scales[0] : weight_scales[c];
    scales[c] = in_scale * ws / out_scale;
    const double eff = static_cast<double>(in_scale) * static_cast<double>(ws) / static_cast<double>(out_scale);
    int shift = 0;
    if (!fp::quantize_multiplier(eff, r, &multipliers[c], &shift)) return false;
    shifts[c] = shift;
  }
  return true;
}

bool copy_bias(PrepareContext& ctx, const TensorInfo& bias, int64_t channels, const char* per_what,
               std::vector<int32_t>* out) {
  if (bias.type != TensorType::kInt32 || !bias.constant || bias.elements != static_cast<size_t>(channels))
    return ctx.fail(std::string("bias must be a constant int32 vector with one value per ") + per_what);
  out->resize(channels);
  std::memcpy(out->data(), bias.constant, static_cast<size_t>(channels) * 4);
  return true;
}

}  // namespace ops
}  // namespace int8_engine
