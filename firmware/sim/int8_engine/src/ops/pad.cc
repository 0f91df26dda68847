// PAD with a constant (the output zero point), mirroring TFLM micro/kernels/pad.cc.
#include <algorithm>
#include <cstring>

#include "ops/kernel_util.h"
#include "ops/op.h"

namespace int8_engine {
namespace kernels {

void pad(const Shape4& in, const int8_t* input, const int pads[4][2], int8_t pad_value, const Shape4& out,
         int8_t* output) {
  std::memset(output, static_cast<unsigned char>(pad_value), out.size());
  for (int n = 0; n < in.n; ++n) {
    for (int h = 0; h < in.h; ++h) {
      for (int w = 0; w < in.w; ++w) {
        std::memcpy(output + offset4(out, n + pads[0][0], h + pads[1][0], w + pads[2][0], pads[3][0]),
                    input + offset4(in, n, h, w, 0), static_cast<size_t>(in.c));
      }
    }
  }
}

}  // namespace kernels

namespace ops {
namespace {

struct PadData : OpData {
  kernels::Shape4 in, out;
  int pads[4][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
  int8_t pad_value = 0;
};

bool prepare(PrepareContext& ctx, std::unique_ptr<OpData>* data) {
  const TensorInfo& in = *ctx.input(0);
  const TensorInfo& out = ctx.output();
  const TensorInfo* pads = ctx.input(1);
  if (!is_quantized_int8(in) || !is_quantized_int8(out) || in.shape.size() > 4 || in.shape.size() != out.shape.size() ||
      !pads || !pads->constant)
    return ctx.fail("needs int8 tensors of rank <= 4 and constant paddings");
  const size_t rank = in.shape.size();
  if (pads->elements != rank * 2 || (pads->type != TensorType::kInt32 && pads->type != TensorType::kInt64))
    return ctx.fail("paddings must be an int32/int64 [rank, 2] tensor");
  auto d = std::make_unique<PadData>();
  const size_t off = 4 - rank;
  for (size_t dim = 0; dim < rank; ++dim) {
    for (int k = 0; k < 2; ++k) {
      int64_t v = 0;
      if (pads->type == TensorType::kInt32) {
        int32_t v32;
        std::memcpy(&v32, pads->constant + (dim * 2 + k) * 4, 4);
        v = v32;
      } else {
        std::memcpy(&v, pads->constant + (dim * 2 + k) * 8, 8);
      }
      if (v < 0 || v > (1 << 24)) return ctx.fail("negative or huge padding");
      d->pads[off + dim][k] = static_cast<int>(v);
    }
    if (static_cast<int64_t>(in.shape[dim]) + d->pads[off + dim][0] + d->pads[off + dim][1] != out.shape[dim])
      return ctx.fail("output shape does not match input + paddings");
  }
  to_shape4(in, &d->in);
  to_shape4(out, &d->out);
  if (in.zero_point() != out.zero_point()) return ctx.fail("input and output zero points differ");
  d->pad_value = static_cast<int8_t>(std::min(127, std::max(-128, out.zero_point())));
  *data = std::move(d);
  return true;
}

void eval(const EvalContext& ctx, OpData* data) {
  const PadData& d = static_cast<const PadData&>(*data);
  kernels::pad(d.in, ctx.input(0), d.pads, d.pad_value, d.out, ctx.output());
}

}  // namespace

Registration register_pad() { return {prepare, eval}; }

}  // namespace ops

}  // namespace int8_engine
