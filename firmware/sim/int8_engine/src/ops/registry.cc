// The operator table: builtin code -> prepare/eval, as TFLM's MicroMutableOpResolver (AddConv2D(), ...)
// holds the registrations an application adds.
#include <utility>

#include "ops/op.h"

namespace int8_engine {
namespace ops {

namespace {

struct Entry {
  int32_t code;
  Registration registration;
};

}  // namespace

const Registration* find_registration(int32_t builtin_code) {
  // Built on first use, so that no other static initializer can see it half made.
  static const Entry kTable[] = {
      {kOpAdd, register_add()},
      {kOpAveragePool2D, register_average_pool_2d()},
      {kOpConv2D, register_conv_2d()},
      {kOpDepthwiseConv2D, register_depthwise_conv_2d()},
      {kOpDequantize, register_dequantize()},
      {kOpFullyConnected, register_fully_connected()},
      {kOpMaxPool2D, register_max_pool_2d()},
      {kOpRelu, register_relu()},
      {kOpRelu6, register_relu6()},
      {kOpReshape, register_reshape()},
      {kOpSoftmax, register_softmax()},
      {kOpPad, register_pad()},
      {kOpMean, register_mean()},
      {kOpSqueeze, register_squeeze()},
      {kOpQuantize, register_quantize()},
  };
  for (const Entry& e : kTable) {
    if (e.code == builtin_code) return &e.registration;
  }
  return nullptr;
}

}  // namespace ops
}  // namespace int8_engine
