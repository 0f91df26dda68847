// QUANTIZE: float32 -> int8, or requantization between int8 and uint8 (the shims at the ends of
// post-training-quantized models), mirroring TFLM micro/kernels/quantize.cc and quantize_common.cc.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/kernel_util.h"
#include "ops/op.h"

namespace int8_engine {
namespace kernels {

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

}  // namespace kernels

namespace ops {
namespace {

struct QuantizeData : OpData {
  bool float_input = false;
  int32_t multiplier = 0;
  int shift = 0;
};

bool is_quantized_8bit(const TensorInfo& t) {
  return (t.type == TensorType::kInt8 || t.type == TensorType::kUInt8) && !t.scales.empty() && valid_scale(t.scales[0]) &&
         !t.zero_points.empty() && t.zero_points[0] >= -128 && t.zero_points[0] <= 255;
}

bool prepare(PrepareContext& ctx, std::unique_ptr<OpData>* data) {
  const TensorInfo& in = *ctx.input(0);
  const TensorInfo& out = ctx.output();
  if (!is_quantized_8bit(out) || in.elements != out.elements)
    return ctx.fail("needs an int8/uint8 quantized output of the input's size");
  auto d = std::make_unique<QuantizeData>();
  if (in.type == TensorType::kFloat32) {
    if (out.type != TensorType::kInt8) return ctx.fail("float input needs an int8 output");
    d->float_input = true;
  } else {
    if (!is_quantized_8bit(in)) return ctx.fail("input must be float32, int8 or uint8");
    const double real = static_cast<double>(in.scale()) / static_cast<double>(out.scale());
    if (!fp::quantize_multiplier(real, ctx.rounding(), &d->multiplier, &d->shift)) return ctx.fail("invalid scales");
  }
  *data = std::move(d);
  return true;
}

void eval(const EvalContext& ctx, OpData* data) {
  const QuantizeData& d = static_cast<const QuantizeData&>(*data);
  const TensorInfo& it = ctx.input_tensor(0);
  const TensorInfo& ot = ctx.output_tensor();
  if (d.float_input) {
    // The float tensor may be unaligned within its storage.
    std::vector<float> tmp(ot.elements);
    std::memcpy(tmp.data(), ctx.input(0), ot.elements * 4);
    kernels::quantize_float(ot.elements, tmp.data(), ot.scale(), ot.zero_point(), ctx.output());
    return;
  }
  const uint8_t* src = reinterpret_cast<const uint8_t*>(ctx.input(0));
  uint8_t* dst = reinterpret_cast<uint8_t*>(ctx.output());
  const bool in_u8 = it.type == TensorType::kUInt8, out_u8 = ot.type == TensorType::kUInt8;
  const int32_t lo = out_u8 ? 0 : -128, hi = out_u8 ? 255 : 127;
  for (size_t i = 0; i < ot.elements; ++i) {
    const int32_t x = in_u8 ? static_cast<int32_t>(src[i]) : static_cast<int32_t>(static_cast<int8_t>(src[i]));
    int32_t v = fp::wrap_add(fp::multiply_by_quantized_multiplier(x - it.zero_point(), d.multiplier, d.shift, ctx.rounding()),
                             ot.zero_point());
    v = std::min(std::max(v, lo), hi);
    dst[i] = static_cast<uint8_t>(v);
  }
}

}  // namespace

Registration register_quantize() { return {prepare, eval}; }

}  // namespace ops

}  // namespace int8_engine
