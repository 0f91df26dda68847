// What CONV_2D and DEPTHWISE_CONV_2D prepare alike (TFLM: conv_common.cc, depthwise_conv_common.cc).
#pragma once

#include <vector>

#include "ops/op.h"

namespace int8_engine {
namespace ops {

struct ConvData : OpData {
  kernels::Shape4 in, filter, out;
  kernels::ConvParams params;
  ChannelRequantization requant;
  std::vector<int32_t> bias;
};

// Validates the tensors and fills `data`; `depthwise` selects DEPTHWISE_CONV_2D's filter layout.
bool prepare_conv(PrepareContext& ctx, bool depthwise, std::unique_ptr<OpData>* data);

// The per-channel requantization and rounding as the kernels read them.
void bind_conv_params(ConvData& d, Rounding r);

}  // namespace ops
}  // namespace int8_engine
