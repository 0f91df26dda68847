// AVERAGE_POOL_2D and MAX_POOL_2D, mirroring TFLM micro/kernels/pooling.cc (one file for both, as
// there; reference_integer_ops::AveragePool / MaxPool).
#include <algorithm>

#include "ops/kernel_util.h"
#include "ops/op.h"

namespace int8_engine {
namespace kernels {

namespace {

// One output position's window, clipped to the image as both TFLM reference pools clip it.
struct Window {
  int b, y0, x0;  // batch and the window's top-left corner in the input (may lie outside it)
  int fy_start, fy_end, fx_start, fx_end;
};

// Calls reduce(window, channel) for every output value, in output order.
template <typename Reduce>
void for_each_window(const PoolParams& p, const Shape4& in, const Shape4& out, int8_t* output, Reduce reduce) {
  for (int b = 0; b < out.n; ++b) {
    for (int oy = 0; oy < out.h; ++oy) {
      for (int ox = 0; ox < out.w; ++ox) {
        Window w;
        w.b = b;
        w.x0 = ox * p.stride_w - p.pad_w;
        w.y0 = oy * p.stride_h - p.pad_h;
        w.fx_start = std::max(0, -w.x0);
        w.fx_end = std::min(p.filter_w, in.w - w.x0);
        w.fy_start = std::max(0, -w.y0);
        w.fy_end = std::min(p.filter_h, in.h - w.y0);
        for (int c = 0; c < out.c; ++c) output[offset4(out, b, oy, ox, c)] = reduce(w, c);
      }
    }
  }
}

}  // namespace

void average_pool(const PoolParams& p, const Shape4& in, const int8_t* input, const Shape4& out, int8_t* output) {
  for_each_window(p, in, out, output, [&](const Window& w, int c) {
    int32_t acc = 0;
    int32_t count = 0;
    for (int fy = w.fy_start; fy < w.fy_end; ++fy) {
      for (int fx = w.fx_start; fx < w.fx_end; ++fx) {
        acc += input[offset4(in, w.b, w.y0 + fy, w.x0 + fx, c)];
        ++count;
      }
    }
    if (count == 0) return static_cast<int8_t>(p.act_min);
    // Round half away from zero, as TFLM's reference average pool does.
    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
    return clamp_to_int8(acc, p.act_min, p.act_max);
  });
}

void max_pool(const PoolParams& p, const Shape4& in, const int8_t* input, const Shape4& out, int8_t* output) {
  for_each_window(p, in, out, output, [&](const Window& w, int c) {
    int32_t best = -128;
    for (int fy = w.fy_start; fy < w.fy_end; ++fy) {
      for (int fx = w.fx_start; fx < w.fx_end; ++fx) {
        best = std::max<int32_t>(best, input[offset4(in, w.b, w.y0 + fy, w.x0 + fx, c)]);
      }
    }
    return clamp_to_int8(best, p.act_min, p.act_max);
  });
}

}  // namespace kernels

namespace ops {
namespace {

struct PoolData : OpData {
  kernels::Shape4 in, out;
  kernels::PoolParams params;
};

bool prepare(PrepareContext& ctx, std::unique_ptr<OpData>* data) {
  const OpInfo& op = ctx.op();
  const TensorInfo& in = *ctx.input(0);
  const TensorInfo& out = ctx.output();
  if (!is_quantized_int8(in) || !is_quantized_int8(out) || in.shape.size() != 4 || out.shape.size() != 4)
    return ctx.fail("needs 4D int8 tensors");
  auto d = std::make_unique<PoolData>();
  to_shape4(in, &d->in);
  to_shape4(out, &d->out);
  if (op.stride_w < 1 || op.stride_h < 1 || op.filter_w < 1 || op.filter_h < 1 || op.stride_w > 1024 ||
      op.stride_h > 1024 || op.filter_w > (1 << 16) || op.filter_h > (1 << 16))
    return ctx.fail("stride/filter out of range");
  int64_t oh = 0, ow = 0;
  if (!padding_1d(op.padding, d->in.h, op.filter_h, op.stride_h, 1, &oh, &d->params.pad_h) ||
      !padding_1d(op.padding, d->in.w, op.filter_w, op.stride_w, 1, &ow, &d->params.pad_w))
    return ctx.fail("padding out of range");
  if (oh != d->out.h || ow != d->out.w || d->out.n != d->in.n || d->out.c != d->in.c)
    return ctx.fail("output shape does not match the pooling");
  d->params.stride_w = op.stride_w;
  d->params.stride_h = op.stride_h;
  d->params.filter_w = op.filter_w;
  d->params.filter_h = op.filter_h;
  // Pools run as LiteRT builtins, not in XNNPACK: TFLite bound rounding under every variant.
  if (!activation_range(op.activation, out, &d->params.act_min, &d->params.act_max, Rounding::kSingle))
    return ctx.fail("empty activation range");
  ctx.add_macs(static_cast<double>(d->out.size()) * std::min<int64_t>(op.filter_h, d->in.h) *
               std::min<int64_t>(op.filter_w, d->in.w));
  *data = std::move(d);
  return true;
}

void eval_average(const EvalContext& ctx, OpData* data) {
  const PoolData& d = static_cast<const PoolData&>(*data);
  kernels::average_pool(d.params, d.in, ctx.input(0), d.out, ctx.output());
}

void eval_max(const EvalContext& ctx, OpData* data) {
  const PoolData& d = static_cast<const PoolData&>(*data);
  kernels::max_pool(d.params, d.in, ctx.input(0), d.out, ctx.output());
}

}  // namespace

Registration register_average_pool_2d() { return {prepare, eval_average}; }
Registration register_max_pool_2d() { return {prepare, eval_max}; }

}  // namespace ops

}  // namespace int8_engine
