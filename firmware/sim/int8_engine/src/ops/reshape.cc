// RESHAPE and SQUEEZE: a copy of the bytes, as TFLM micro/kernels/reshape.cc and squeeze.cc do (both
// skip it when input and output share memory). The engine gives every tensor its own storage.
#include <cstring>

#include "ops/op.h"

namespace int8_engine {
namespace ops {
namespace {

bool prepare(PrepareContext& ctx, std::unique_ptr<OpData>*) {
  const TensorInfo& in = *ctx.input(0);
  const TensorInfo& out = ctx.output();
  if (in.type != out.type || in.elements != out.elements) return ctx.fail("input and output sizes differ");
  return true;
}

void eval(const EvalContext& ctx, OpData*) {
  const int8_t* in = ctx.input(0);
  int8_t* out = ctx.output();
  if (in != out) std::memmove(out, in, ctx.output_tensor().bytes);
}

}  // namespace

Registration register_reshape() { return {prepare, eval}; }
Registration register_squeeze() { return {prepare, eval}; }

}  // namespace ops
}  // namespace int8_engine
