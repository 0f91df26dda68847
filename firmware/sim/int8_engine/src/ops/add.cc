// ADD, mirroring TFLM micro/kernels/add.cc (PrepareGeneralSubgraph / reference_integer_ops::Add with
// broadcasting); under Rounding::kXnnpack, XNNPACK's own integer add.
#include <algorithm>

#include "ops/kernel_util.h"
#include "ops/op.h"

namespace int8_engine {
namespace kernels {

void add(const AddParams& p, const Shape4& s1, const int8_t* in1, const Shape4& s2, const int8_t* in2,
         const Shape4& out, int8_t* output) {
  auto bcast = [](const Shape4& s, int n, int h, int w, int c) {
    return offset4(s, s.n == 1 ? 0 : n, s.h == 1 ? 0 : h, s.w == 1 ? 0 : w, s.c == 1 ? 0 : c);
  };
  const Rounding r = p.rounding;
  for (int n = 0; n < out.n; ++n) {
    for (int h = 0; h < out.h; ++h) {
      for (int w = 0; w < out.w; ++w) {
        for (int c = 0; c < out.c; ++c) {
          if (r == Rounding::kXnnpack) {
            // Zero points are folded into the bias; |acc| < 2^31 for int8 inputs and 21-bit multipliers.
            const int64_t acc = int64_t{p.xnn.bias} + int64_t{in1[bcast(s1, n, h, w, c)]} * p.xnn.a_multiplier +
                                int64_t{in2[bcast(s2, n, h, w, c)]} * p.xnn.b_multiplier;
            const int64_t v = (acc >> p.xnn.shift) + p.output_offset;  // arithmetic shift: floor
            output[offset4(out, n, h, w, c)] = static_cast<int8_t>(std::min<int64_t>(std::max<int64_t>(v, p.act_min), p.act_max));
            continue;
          }
          const int32_t v1 = p.input1_offset + in1[bcast(s1, n, h, w, c)];
          const int32_t v2 = p.input2_offset + in2[bcast(s2, n, h, w, c)];
          const int32_t shifted1 = fp::wrap_shl(v1, p.left_shift);
          const int32_t shifted2 = fp::wrap_shl(v2, p.left_shift);
          const int32_t scaled1 = fp::multiply_by_quantized_multiplier_smaller_than_one_exp(
              shifted1, p.input1_multiplier, p.input1_shift, r);
          const int32_t scaled2 = fp::multiply_by_quantized_multiplier_smaller_than_one_exp(
              shifted2, p.input2_multiplier, p.input2_shift, r);
          const int32_t raw_sum = fp::wrap_add(scaled1, scaled2);
          const int32_t raw_out = fp::wrap_add(fp::multiply_by_quantized_multiplier_smaller_than_one_exp(
                                                   raw_sum, p.output_multiplier, p.output_shift, r),
                                               p.output_offset);
          output[offset4(out, n, h, w, c)] = clamp_to_int8(raw_out, p.act_min, p.act_max);
        }
      }
    }
  }
}

}  // namespace kernels

namespace ops {
namespace {

struct AddData : OpData {
  kernels::Shape4 in1, in2, out;
  kernels::AddParams params;
};

bool prepare(PrepareContext& ctx, std::unique_ptr<OpData>* data) {
  const TensorInfo& in = *ctx.input(0);
  const TensorInfo& out = ctx.output();
  const TensorInfo* in2 = ctx.input(1);
  const Rounding r = ctx.rounding();
  if (!in2 || !is_quantized_int8(in) || !is_quantized_int8(*in2) || !is_quantized_int8(out))
    return ctx.fail("needs int8 quantized inputs and output");
  auto d = std::make_unique<AddData>();
  if (!to_shape4(in, &d->in1) || !to_shape4(*in2, &d->in2) || !to_shape4(out, &d->out)) return ctx.fail("rank above 4");
  const int a[4] = {d->in1.n, d->in1.h, d->in1.w, d->in1.c}, b[4] = {d->in2.n, d->in2.h, d->in2.w, d->in2.c},
            o[4] = {d->out.n, d->out.h, d->out.w, d->out.c};
  for (int k = 0; k < 4; ++k) {
    if ((a[k] != o[k] && a[k] != 1) || (b[k] != o[k] && b[k] != 1) || (o[k] != std::max(a[k], b[k])))
      return ctx.fail("input shapes do not broadcast to the output shape");
  }
  kernels::AddParams& p = d->params;
  const double twice_max = 2 * static_cast<double>(std::max(in.scale(), in2->scale()));
  p.left_shift = 20;
  const double m1 = static_cast<double>(in.scale()) / twice_max;
  const double m2 = static_cast<double>(in2->scale()) / twice_max;
  const double mo = twice_max / ((1 << p.left_shift) * static_cast<double>(out.scale()));
  if (!fp::quantize_multiplier(m1, r, &p.input1_multiplier, &p.input1_shift) ||
      !fp::quantize_multiplier(m2, r, &p.input2_multiplier, &p.input2_shift) ||
      !fp::quantize_multiplier(mo, r, &p.output_multiplier, &p.output_shift) || p.input1_shift > 0 ||
      p.input2_shift > 0 || p.output_shift > 0)
    return ctx.fail("scales need multipliers below one (TFLite QuantizeMultiplierSmallerThanOneExp)");
  if (r == Rounding::kXnnpack &&
      !fp::add_params_fp32(in.scale(), in2->scale(), out.scale(), in.zero_point(), in2->zero_point(), &p.xnn))
    return ctx.fail("input/output scale ratios outside XNNPACK's range [2^-10, 2^8)");
  p.input1_offset = -in.zero_point();
  p.input2_offset = -in2->zero_point();
  p.output_offset = out.zero_point();
  if (!activation_range(ctx.op().activation, out, &p.act_min, &p.act_max, r)) return ctx.fail("empty activation range");
  *data = std::move(d);
  return true;
}

void eval(const EvalContext& ctx, OpData* data) {
  AddData& d = static_cast<AddData&>(*data);
  d.params.rounding = ctx.rounding();
  kernels::add(d.params, d.in1, ctx.input(0), d.in2, ctx.input(1), d.out, ctx.output());
}

}  // namespace

Registration register_add() { return {prepare, eval}; }

}  // namespace ops

}  // namespace int8_engine
