#include "ops/conv_common.h"

namespace int8_engine {
namespace ops {

bool prepare_conv(PrepareContext& ctx, bool depthwise, std::unique_ptr<OpData>* data) {
  const OpInfo& op = ctx.op();
  const TensorInfo& in = *ctx.input(0);
  const TensorInfo& out = ctx.output();
  const TensorInfo* filter = ctx.input(1);
  const TensorInfo* bias = ctx.input(2);
  if (!filter || !is_quantized_int8(in) || !is_quantized_int8(out) || filter->type != TensorType::kInt8 ||
      !filter->constant || filter->scales.empty())
    return ctx.fail("needs int8 input/output and a constant, quantized int8 filter");
  if (in.shape.size() != 4 || filter->shape.size() != 4 || out.shape.size() != 4) return ctx.fail("needs 4D tensors");
  auto d = std::make_unique<ConvData>();
  to_shape4(in, &d->in);
  to_shape4(*filter, &d->filter);
  to_shape4(out, &d->out);
  const int oc = d->out.c;
  if (depthwise) {
    int dm = op.depth_multiplier;
    if (dm <= 0 && d->in.c > 0) dm = d->filter.c / d->in.c;
    if (d->filter.n != 1 || d->filter.c != oc || dm <= 0 || static_cast<int64_t>(d->in.c) * dm != oc)
      return ctx.fail("filter/output channels do not match input channels x depth multiplier");
    d->params.depth_multiplier = dm;
  } else {
    if (d->filter.n != oc || d->filter.c != d->in.c) return ctx.fail("filter shape does not match input/output channels");
  }
  if (op.stride_w < 1 || op.stride_h < 1 || op.stride_w > 1024 || op.stride_h > 1024 || op.dilation_w < 1 ||
      op.dilation_h < 1 || op.dilation_w > 1024 || op.dilation_h > 1024)
    return ctx.fail("stride/dilation out of range");
  int64_t oh = 0, ow = 0;
  if (!padding_1d(op.padding, d->in.h, d->filter.h, op.stride_h, op.dilation_h, &oh, &d->params.pad_h) ||
      !padding_1d(op.padding, d->in.w, d->filter.w, op.stride_w, op.dilation_w, &ow, &d->params.pad_w))
    return ctx.fail("padding out of range");
  if (oh != d->out.h || ow != d->out.w || d->out.n != d->in.n) return ctx.fail("output shape does not match the convolution");
  d->params.stride_w = op.stride_w;
  d->params.stride_h = op.stride_h;
  d->params.dilation_w = op.dilation_w;
  d->params.dilation_h = op.dilation_h;
  if (filter->scales.size() != 1 && filter->scales.size() != static_cast<size_t>(oc))
    return ctx.fail("filter needs one scale or one per output channel");
  if (!d->requant.prepare(in.scale(), filter->scales, out.scale(), static_cast<size_t>(oc), ctx.rounding()))
    return ctx.fail("invalid filter scale");
  if (bias && !copy_bias(ctx, *bias, oc, "output channel", &d->bias)) return false;
  d->params.input_offset = -in.zero_point();
  d->params.output_offset = out.zero_point();
  if (!activation_range(op.activation, out, &d->params.act_min, &d->params.act_max, ctx.rounding()))
    return ctx.fail("empty activation range");
  ctx.add_macs(static_cast<double>(d->out.size()) * d->filter.h * d->filter.w * (depthwise ? 1 : d->in.c));
  *data = std::move(d);
  return true;
}

void bind_conv_params(ConvData& d, Rounding r) {
  d.params.multipliers = d.requant.multipliers.data();
  d.params.shifts = d.requant.shifts.data();
  d.params.scales = d.requant.scales.data();
  d.params.rounding = r;
}

}  // namespace ops
}  // namespace int8_engine
