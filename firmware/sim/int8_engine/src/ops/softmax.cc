// SOFTMAX int8 -> int8, mirroring TFLM micro/kernels/softmax.cc (CalculateSoftmaxParams /
// reference_ops::Softmax in gemmlowp fixed point).
#include <algorithm>
#include <cmath>

#include "ops/kernel_util.h"
#include "ops/op.h"

namespace int8_engine {
namespace kernels {

void softmax(const SoftmaxParams& p, size_t outer, size_t depth, const int8_t* input, int8_t* output) {
  constexpr int kScaledDiffIntegerBits = 5;
  constexpr int kAccumulationIntegerBits = 12;
  for (size_t i = 0; i < outer; ++i) {
    const int8_t* x = input + i * depth;
    int8_t* y = output + i * depth;
    int32_t max_in_row = -128;
    for (size_t c = 0; c < depth; ++c) max_in_row = std::max<int32_t>(max_in_row, x[c]);

    int32_t sum_of_exps = 0;  // Q12.19
    for (size_t c = 0; c < depth; ++c) {
      const int32_t diff = static_cast<int32_t>(x[c]) - max_in_row;
      if (diff >= p.diff_min) {
        const int32_t rescaled = fp::multiply_by_quantized_multiplier_greater_than_one(
            diff, p.input_multiplier, p.input_left_shift, p.rounding);
        sum_of_exps = fp::wrap_add(
            sum_of_exps, fp::rescale(fp::exp_on_negative_values_q5_26(rescaled), 0, kAccumulationIntegerBits));
      }
    }
    int num_bits_over_unit = 0;
    const int32_t shifted_scale = fp::get_reciprocal(sum_of_exps, kAccumulationIntegerBits, &num_bits_over_unit);
    int exponent = num_bits_over_unit + 31 - 8;
    exponent = std::min(std::max(exponent, 0), 31);
    for (size_t c = 0; c < depth; ++c) {
      const int32_t diff = static_cast<int32_t>(x[c]) - max_in_row;
      if (diff >= p.diff_min) {
        const int32_t rescaled = fp::multiply_by_quantized_multiplier_greater_than_one(
            diff, p.input_multiplier, p.input_left_shift, p.rounding);
        const int32_t exp_in_0 = fp::exp_on_negative_values_q5_26(rescaled);
        const int32_t unsat = fp::rounding_divide_by_pot(
            fp::saturating_rounding_doubling_high_mul(shifted_scale, exp_in_0), exponent);
        y[c] = clamp_to_int8(fp::wrap_add(unsat, -128), -128, 127);
      } else {
        y[c] = -128;
      }
    }
  }
  (void)kScaledDiffIntegerBits;
}

}  // namespace kernels

namespace ops {
namespace {

struct SoftmaxData : OpData {
  kernels::SoftmaxParams params;
  size_t outer = 0, depth = 0;
};

bool prepare(PrepareContext& ctx, std::unique_ptr<OpData>* data) {
  const TensorInfo& in = *ctx.input(0);
  const TensorInfo& out = ctx.output();
  if (!is_quantized_int8(in) || !is_quantized_int8(out) || in.shape.empty()) return ctx.fail("needs int8 input and output");
  if (out.zero_point() != -128 || std::fabs(out.scale() - 1.0f / 256) > 0.001f / 256)
    return ctx.fail("int8 output must have scale 1/256 and zero point -128");
  if (in.elements != out.elements) return ctx.fail("output size does not match");
  auto d = std::make_unique<SoftmaxData>();
  d->depth = static_cast<size_t>(in.shape.back());
  d->outer = d->depth == 0 ? 0 : in.elements / d->depth;
  if (!fp::preprocess_softmax_scaling(static_cast<double>(ctx.op().beta), static_cast<double>(in.scale()), 5,
                                      ctx.rounding(), &d->params.input_multiplier, &d->params.input_left_shift) ||
      d->params.input_left_shift > 31)
    return ctx.fail("beta x input scale is out of range");
  d->params.diff_min = -fp::calculate_input_radius(5, d->params.input_left_shift);
  *data = std::move(d);
  return true;
}

void eval(const EvalContext& ctx, OpData* data) {
  SoftmaxData& d = static_cast<SoftmaxData&>(*data);
  d.params.rounding = ctx.rounding();
  kernels::softmax(d.params, d.outer, d.depth, ctx.input(0), ctx.output());
}

}  // namespace

Registration register_softmax() { return {prepare, eval}; }

}  // namespace ops

}  // namespace int8_engine
