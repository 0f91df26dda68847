// The engine's operators, laid out as TensorFlow Lite Micro's kernels are: one file per operator
// (conv.cc, depthwise_conv.cc, fully_connected.cc, add.cc, pooling.cc, mean.cc, softmax.cc, reshape.cc,
// pad.cc, quantize.cc, dequantize.cc, activations.cc), each with the operator's prepare (validation and
// the quantization parameters TFLM computes in Prepare) and eval (the integer kernel), registered by
// builtin code in registry.cc. Internal to the engine: the public API is engine.h and kernels.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "int8_engine/engine.h"
#include "int8_engine/kernels.h"
#include "int8_engine/model.h"

namespace int8_engine {
namespace ops {

// What an operator's prepare computes once per load (or rounding change), like TFLM's OpData that
// Init allocates and Prepare fills. Each operator file derives its own.
struct OpData {
  virtual ~OpData() = default;
};

class PrepareContext {
 public:
  PrepareContext(const ParsedModel& model, const OpInfo& op, size_t index, Rounding rounding, double* macs)
      : model_(model), op_(op), index_(index), rounding_(rounding), macs_(macs) {}

  const OpInfo& op() const { return op_; }
  Rounding rounding() const { return rounding_; }
  // Input k, or nullptr when the operator has no such input (or it is an omitted optional input).
  const TensorInfo* input(size_t k) const {
    if (k >= op_.inputs.size() || op_.inputs[k] < 0) return nullptr;
    return &model_.tensors[op_.inputs[k]];
  }
  const TensorInfo& output() const { return model_.tensors[op_.outputs[0]]; }
  // Adds to the model's multiply-accumulate count, which load() caps.
  void add_macs(double n) { *macs_ += n; }
  // Records "operator N (NAME): why" and returns false, so that prepare can `return ctx.fail(...)`.
  bool fail(const std::string& why);
  const std::string& error() const { return error_; }

 private:
  const ParsedModel& model_;
  const OpInfo& op_;
  size_t index_;
  Rounding rounding_;
  double* macs_;
  std::string error_;
};

// Tensor data during invoke: constants point into the model bytes, activations into the engine's storage.
class EvalContext {
 public:
  EvalContext(const ParsedModel& model, std::vector<std::vector<uint8_t>>& storage, const OpInfo& op, Rounding rounding)
      : model_(model), storage_(storage), op_(op), rounding_(rounding) {}

  Rounding rounding() const { return rounding_; }
  const TensorInfo& input_tensor(size_t k) const { return model_.tensors[op_.inputs[k]]; }
  const TensorInfo& output_tensor() const { return model_.tensors[op_.outputs[0]]; }
  const int8_t* input(size_t k) const {
    const int32_t i = op_.inputs[k];
    const TensorInfo& t = model_.tensors[i];
    return reinterpret_cast<const int8_t*>(t.constant ? t.constant : storage_[i].data());
  }
  int8_t* output() const { return reinterpret_cast<int8_t*>(storage_[op_.outputs[0]].data()); }

 private:
  const ParsedModel& model_;
  std::vector<std::vector<uint8_t>>& storage_;
  const OpInfo& op_;
  Rounding rounding_;
};

// Prepare returns false after ctx.fail(); it may leave *data null for an operator without parameters.
using PrepareFn = bool (*)(PrepareContext& ctx, std::unique_ptr<OpData>* data);
using EvalFn = void (*)(const EvalContext& ctx, OpData* data);

struct Registration {
  PrepareFn prepare;
  EvalFn eval;
};

// The registration of a builtin operator code, or nullptr when the engine does not implement it.
const Registration* find_registration(int32_t builtin_code);

// One per operator file, as TFLM's Register_CONV_2D() and friends.
Registration register_conv_2d();
Registration register_depthwise_conv_2d();
Registration register_fully_connected();
Registration register_add();
Registration register_average_pool_2d();
Registration register_max_pool_2d();
Registration register_mean();
Registration register_softmax();
Registration register_reshape();
Registration register_squeeze();
Registration register_pad();
Registration register_quantize();
Registration register_dequantize();
Registration register_relu();
Registration register_relu6();

// ---- Helpers shared by several prepares (kernel_util.cc) ----

bool valid_scale(float s);
// An int8 tensor with a usable per-tensor scale and a zero point.
bool is_quantized_int8(const TensorInfo& t);
// Right-aligns a shape of rank <= 4 into NHWC (missing leading dimensions are 1); false above rank 4.
bool to_shape4(const TensorInfo& t, kernels::Shape4* s);
// TFLM CalculateActivationRangeQuantized; under Rounding::kXnnpack, XNNPACK's bound quantization.
// False when the range is empty.
bool activation_range(Activation a, const TensorInfo& out, int32_t* lo, int32_t* hi, Rounding r);
// TFLM ComputePaddingHeightWidth / ComputeOutSize for one dimension; false for a padding out of range.
bool padding_1d(Padding p, int64_t in, int64_t filter, int64_t stride, int64_t dilation, int64_t* out_size, int* pad);

// Per output channel of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED: TFLM's multiplier and shift of
// s_in * s_w[c] / s_out (in double), and the float32 scale XNNPACK computes left to right.
struct ChannelRequantization {
  std::vector<int32_t> multipliers, shifts;
  std::vector<float> scales;  // Rounding::kXnnpack
  // `weight_scales` holds one scale for all channels or one per channel. False for an unusable scale.
  bool prepare(float in_scale, const std::vector<float>& weight_scales, float out_scale, size_t channels, Rounding r);
};

// Copies a constant int32 bias of `channels` values (the tensor may be unaligned in the model bytes).
// False, with ctx.fail(), when it is not a constant int32 vector of that length.
bool copy_bias(PrepareContext& ctx, const TensorInfo& bias, int64_t channels, const char* per_what,
               std::vector<int32_t>* out);

}  // namespace ops
}  // namespace int8_engine
