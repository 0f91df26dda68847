// MEAN over H and W, mirroring TFLM micro/kernels/reduce.cc (PrepareMeanOrSum / EvalMean:
// reference_integer_ops::Mean and QuantizedMeanOrSum); under Rounding::kXnnpack, XNNPACK's float-scaled mean.
#include <algorithm>
#include <cstring>

#include "ops/kernel_util.h"
#include "ops/op.h"

namespace int8_engine {
namespace kernels {

namespace {

int count_leading_zeros64(uint64_t v) {
  if (v == 0) return 64;
  int n = 0;
  while ((v & (uint64_t{1} << 63)) == 0) {
    v <<= 1;
    ++n;
  }
  return n;
}

}  // namespace

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

}  // namespace kernels

namespace ops {
namespace {

struct MeanData : OpData {
  kernels::Shape4 in;
  kernels::MeanParams params;
};

bool prepare(PrepareContext& ctx, std::unique_ptr<OpData>* data) {
  const TensorInfo& in = *ctx.input(0);
  const TensorInfo& out = ctx.output();
  const TensorInfo* axis = ctx.input(1);
  if (!axis || !is_quantized_int8(in) || !is_quantized_int8(out) || in.shape.size() != 4)
    return ctx.fail("needs a 4D int8 input and int8 output");
  if (axis->type != TensorType::kInt32 || !axis->constant || axis->elements != 2)
    return ctx.fail("axis must be a constant int32 pair");
  int32_t ax[2];
  std::memcpy(ax, axis->constant, 8);
  for (int32_t& a : ax) if (a < 0) a += 4;
  if (!((ax[0] == 1 && ax[1] == 2) || (ax[0] == 2 && ax[1] == 1)))
    return ctx.fail("only the mean over H and W (axes 1, 2) is implemented");
  auto d = std::make_unique<MeanData>();
  to_shape4(in, &d->in);
  if (out.elements != static_cast<size_t>(d->in.n) * d->in.c) return ctx.fail("output size does not match");
  kernels::MeanParams& p = d->params;
  p.input_zero_point = in.zero_point();
  p.output_zero_point = out.zero_point();
  p.same_quantization = in.zero_point() == out.zero_point() && in.scale() == out.scale();
  const double real = static_cast<double>(in.scale()) / static_cast<double>(out.scale());
  if (!fp::quantize_multiplier(real, ctx.rounding(), &p.multiplier, &p.shift)) return ctx.fail("invalid scales");
  const int64_t count = static_cast<int64_t>(d->in.h) * d->in.w;
  p.xnn_scale = (in.scale() / out.scale()) * (1.0f / static_cast<float>(count > 0 ? count : 1));
  *data = std::move(d);
  return true;
}

void eval(const EvalContext& ctx, OpData* data) {
  MeanData& d = static_cast<MeanData&>(*data);
  d.params.rounding = ctx.rounding();
  kernels::mean_hw(d.params, d.in, ctx.input(0), ctx.output());
}

}  // namespace

Registration register_mean() { return {prepare, eval}; }

}  // namespace ops

}  // namespace int8_engine
