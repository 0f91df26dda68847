// DEQUANTIZE int8 -> float32, mirroring TFLM micro/kernels/dequantize.cc.
#include <cstring>
#include <vector>

#include "ops/kernel_util.h"
#include "ops/op.h"

namespace int8_engine {
namespace kernels {

void dequantize(size_t n, const int8_t* input, float scale, int32_t zero_point, float* output) {
  const double s = scale;
  for (size_t i = 0; i < n; ++i) output[i] = static_cast<float>(s * (input[i] - zero_point));
}

}  // namespace kernels

namespace ops {
namespace {

bool prepare(PrepareContext& ctx, std::unique_ptr<OpData>*) {
  const TensorInfo& in = *ctx.input(0);
  const TensorInfo& out = ctx.output();
  if (!is_quantized_int8(in) || out.type != TensorType::kFloat32 || in.elements != out.elements)
    return ctx.fail("needs int8 input and float32 output");
  return true;
}

void eval(const EvalContext& ctx, OpData*) {
  const TensorInfo& it = ctx.input_tensor(0);
  // The float tensor may be unaligned within its storage.
  std::vector<float> tmp(it.elements);
  kernels::dequantize(it.elements, ctx.input(0), it.scale(), it.zero_point(), tmp.data());
  std::memcpy(ctx.output(), tmp.data(), it.elements * 4);
}

}  // namespace

Registration register_dequantize() { return {prepare, eval}; }

}  // namespace ops

}  // namespace int8_engine
