// DEPTHWISE_CONV_2D, mirroring TFLM micro/kernels/depthwise_conv.cc (Eval:
// reference_integer_ops::DepthwiseConvPerChannel).
#include "ops/conv_common.h"
#include "ops/kernel_util.h"

namespace int8_engine {
namespace kernels {

void depthwise_conv2d(const ConvParams& p, const Shape4& in, const int8_t* input, const Shape4& filter,
                      const int8_t* filter_data, const int32_t* bias, const Shape4& out, int8_t* output) {
  for (int b = 0; b < out.n; ++b) {
    for (int oy = 0; oy < out.h; ++oy) {
      const int in_y_origin = oy * p.stride_h - p.pad_h;
      for (int ox = 0; ox < out.w; ++ox) {
        const int in_x_origin = ox * p.stride_w - p.pad_w;
        for (int ic = 0; ic < in.c; ++ic) {
          for (int m = 0; m < p.depth_multiplier; ++m) {
            const int oc = m + ic * p.depth_multiplier;
            uint32_t acc = 0;
            for (int fy = 0; fy < filter.h; ++fy) {
              const int in_y = in_y_origin + p.dilation_h * fy;
              if (in_y < 0 || in_y >= in.h) continue;
              for (int fx = 0; fx < filter.w; ++fx) {
                const int in_x = in_x_origin + p.dilation_w * fx;
                if (in_x < 0 || in_x >= in.w) continue;
                const int32_t x = input[offset4(in, b, in_y, in_x, ic)];
                const int32_t f = filter_data[offset4(filter, 0, fy, fx, oc)];
                acc += static_cast<uint32_t>(f * (x + p.input_offset));
              }
            }
            output[offset4(out, b, oy, ox, oc)] = static_cast<int8_t>(
                finish_accumulator(acc, bias, oc, p.multipliers[oc], p.shifts[oc], p.scales, oc, p.output_offset, p.act_min,
                                   p.act_max, p.rounding));
          }
        }
      }
    }
  }
}

}  // namespace kernels

namespace ops {
namespace {

bool prepare(PrepareContext& ctx, std::unique_ptr<OpData>* data) { return prepare_conv(ctx, true, data); }

void eval(const EvalContext& ctx, OpData* data) {
  ConvData& d = static_cast<ConvData&>(*data);
  bind_conv_params(d, ctx.rounding());
  kernels::depthwise_conv2d(d.params, d.in, ctx.input(0), d.filter, ctx.input(1), d.bias.empty() ? nullptr : d.bias.data(),
                            d.out, ctx.output());
}

}  // namespace

Registration register_depthwise_conv_2d() { return {prepare, eval}; }

}  // namespace ops

}  // namespace int8_engine
