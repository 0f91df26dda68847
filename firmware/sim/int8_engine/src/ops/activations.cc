// RELU and RELU6 as standalone operators, mirroring TFLM micro/kernels/activations.cc and
// activations_common.cc (ReluPrepare / Relu6Prepare and their quantized evals).
#include <algorithm>
#include <cmath>

#include "int8_engine/fixed_point.h"
#include "ops/op.h"

namespace int8_engine {
namespace ops {
namespace {

struct ActivationData : OpData {
  int32_t multiplier = 0;  // RELU only
  int shift = 0;
  int32_t act_min = -128, act_max = 127;
};

bool same_size_int8(PrepareContext& ctx) {
  const TensorInfo& in = *ctx.input(0);
  const TensorInfo& out = ctx.output();
  return is_quantized_int8(in) && out.type == TensorType::kInt8 && in.elements == out.elements;
}

// TFLM CalculateReluOpData: requantize by s_in/s_out, clamp at zp_out + round(0 / s_out).
bool prepare_relu(PrepareContext& ctx, std::unique_ptr<OpData>* data) {
  const TensorInfo& in = *ctx.input(0);
  const TensorInfo& out = ctx.output();
  if (!same_size_int8(ctx) || !is_quantized_int8(out)) return ctx.fail("needs int8 input and output of equal size");
  auto d = std::make_unique<ActivationData>();
  const double real = static_cast<double>(in.scale()) / static_cast<double>(out.scale());
  if (!fp::quantize_multiplier(real, ctx.rounding(), &d->multiplier, &d->shift)) return ctx.fail("invalid scales");
  d->act_min = std::max<int32_t>(-128, out.zero_point() + static_cast<int32_t>(std::round(0.0f / out.scale())));
  d->act_max = 127;
  *data = std::move(d);
  return true;
}

void eval_relu(const EvalContext& ctx, OpData* data) {
  const ActivationData& d = static_cast<const ActivationData&>(*data);
  const TensorInfo& it = ctx.input_tensor(0);
  const TensorInfo& ot = ctx.output_tensor();
  const int8_t* in = ctx.input(0);
  int8_t* out = ctx.output();
  for (size_t i = 0; i < ot.elements; ++i) {
    int32_t v = fp::wrap_add(ot.zero_point(),
                             fp::multiply_by_quantized_multiplier(in[i] - it.zero_point(), d.multiplier, d.shift, ctx.rounding()));
    out[i] = static_cast<int8_t>(std::min(std::max(v, d.act_min), d.act_max));
  }
}

// TFLM Relu6Prepare: a clamp of the raw values to [zp_in, FloatToQuantizedType(6, s_in, zp_in)]; the
// output keeps the input's quantization.
bool prepare_relu6(PrepareContext& ctx, std::unique_ptr<OpData>* data) {
  const TensorInfo& in = *ctx.input(0);
  if (!same_size_int8(ctx)) return ctx.fail("needs int8 input and output of equal size");
  auto d = std::make_unique<ActivationData>();
  const float q6 = std::round(6.0f / in.scale());
  const int64_t six = (q6 > 1e9f ? int64_t{1000000000} : static_cast<int64_t>(q6)) + in.zero_point();
  d->act_min = in.zero_point();
  d->act_max = static_cast<int32_t>(std::min<int64_t>(127, std::max<int64_t>(-128, six)));
  *data = std::move(d);
  return true;
}

void eval_relu6(const EvalContext& ctx, OpData* data) {
  const ActivationData& d = static_cast<const ActivationData&>(*data);
  const int8_t* in = ctx.input(0);
  int8_t* out = ctx.output();
  const size_t n = ctx.output_tensor().elements;
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<int8_t>(std::min<int32_t>(std::max<int32_t>(in[i], d.act_min), d.act_max));
}

}  // namespace

Registration register_relu() { return {prepare_relu, eval_relu}; }
Registration register_relu6() { return {prepare_relu6, eval_relu6}; }

}  // namespace ops
}  // namespace int8_engine
