// The classifier seam: TFLite Micro implements it on the device, the int8 reference engine in the
// host simulator. Everything above it (decision logic, serial protocol) sees only this interface.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sorter {

enum class Status : uint8_t {
  kOk = 0,
  kNotReady = 1,       // no model loaded (bad model, arena too small): the reason is in last_error()
  kBadInput = 2,       // input length does not match the model input
  kInvokeFailed = 3,
  kNoSuchTensor = 4,
};

struct QuantParams {
  float scale;
  int32_t zero_point;
};

struct ModelDescription {
  uint16_t input_width;
  uint16_t input_height;
  uint16_t input_channels;
  QuantParams input_quant;
  QuantParams output_quant;
  uint16_t num_classes;
  uint32_t arena_used_bytes;  // 0 when unknown
  uint8_t model_sha256[32];
};

class Classifier {
 public:
  virtual ~Classifier() = default;

  virtual bool ready() const = 0;
  // Human-readable reason when !ready() or after a failed call; never null.
  virtual const char* last_error() const = 0;
  virtual const ModelDescription& description() const = 0;

  // input: int8 HWC tensor of input_width*input_height*input_channels values.
  // scores: num_classes int8 softmax outputs. invoke_us: time spent in the interpreter.
  virtual Status classify(const int8_t* input, size_t input_len, int8_t* scores, size_t scores_len,
                          uint32_t* invoke_us) = 0;

  // For DUMP: after the last classify(), the int8 content of every tensor an operator wrote, in
  // operator order. Implementations that cannot expose intermediates return 0 / kNoSuchTensor.
  virtual size_t dump_tensor_count() const { return 0; }
  virtual Status dump_tensor(size_t /*index*/, const int8_t** /*data*/, size_t* /*len*/,
                             const char** /*name*/) const {
    return Status::kNoSuchTensor;
  }
};

}  // namespace sorter
