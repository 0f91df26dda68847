// FULLY_CONNECTED, mirroring TFLM micro/kernels/fully_connected.cc (Eval:
// reference_integer_ops::FullyConnected, per tensor or per channel).
#include "ops/kernel_util.h"
#include "ops/op.h"

namespace int8_engine {
namespace kernels {

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

}  // namespace kernels

namespace ops {
namespace {

struct FullyConnectedData : OpData {
  kernels::FullyConnectedParams params;
  ChannelRequantization requant;
  std::vector<int32_t> bias;
  int batches = 0, accum_depth = 0, output_depth = 0;
};

bool prepare(PrepareContext& ctx, std::unique_ptr<OpData>* data) {
  const TensorInfo& in = *ctx.input(0);
  const TensorInfo& out = ctx.output();
  const TensorInfo* w = ctx.input(1);
  const TensorInfo* bias = ctx.input(2);
  if (!w || !is_quantized_int8(in) || !is_quantized_int8(out) || w->type != TensorType::kInt8 || !w->constant ||
      w->shape.size() != 2 || w->scales.empty())
    return ctx.fail("needs int8 input/output and constant, quantized 2D int8 weights");
  auto d = std::make_unique<FullyConnectedData>();
  d->output_depth = w->shape[0];
  d->accum_depth = w->shape[1];
  if (d->accum_depth <= 0 || in.elements % static_cast<size_t>(d->accum_depth) != 0)
    return ctx.fail("input size is not a multiple of the weights' depth");
  d->batches = static_cast<int>(in.elements / static_cast<size_t>(d->accum_depth));
  if (out.elements != static_cast<size_t>(d->batches) * d->output_depth) return ctx.fail("output size does not match");
  const bool per_channel = w->scales.size() > 1;
  if (per_channel && w->scales.size() != static_cast<size_t>(d->output_depth))
    return ctx.fail("per-channel weights need one scale per output");
  if (!d->requant.prepare(in.scale(), w->scales, out.scale(), per_channel ? w->scales.size() : 1, ctx.rounding()))
    return ctx.fail("invalid weight scale");
  if (bias && !copy_bias(ctx, *bias, d->output_depth, "output", &d->bias)) return false;
  d->params.per_channel = per_channel;
  d->params.input_offset = -in.zero_point();
  d->params.filter_offset = -w->zero_point();
  d->params.output_offset = out.zero_point();
  if (!activation_range(ctx.op().activation, out, &d->params.act_min, &d->params.act_max, ctx.rounding()))
    return ctx.fail("empty activation range");
  ctx.add_macs(static_cast<double>(d->batches) * d->output_depth * d->accum_depth);
  *data = std::move(d);
  return true;
}

void eval(const EvalContext& ctx, OpData* data) {
  FullyConnectedData& d = static_cast<FullyConnectedData&>(*data);
  d.params.multipliers = d.requant.multipliers.data();
  d.params.shifts = d.requant.shifts.data();
  d.params.scales = d.requant.scales.data();
  d.params.rounding = ctx.rounding();
  kernels::fully_connected(d.params, d.batches, d.accum_depth, d.output_depth, ctx.input(0), ctx.input(1),
                           d.bias.empty() ? nullptr : d.bias.data(), ctx.output());
}

}  // namespace

Registration register_fully_connected() { return {prepare, eval}; }

}  // namespace ops

}  // namespace int8_engine
