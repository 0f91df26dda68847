// Int8 reference engine: executes a .tflite with TensorFlow Lite Micro's integer arithmetic so that the
// host simulator predicts the device's outputs bit for bit. The model bytes are parsed with a
// bounds-checked flatbuffer reader; a hostile file makes load() fail, never crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sorter/classifier.h"

namespace int8_engine {

// TFLite requantization comes in two variants chosen at build time of the device firmware:
// kDouble = gemmlowp SaturatingRoundingDoublingHighMul + RoundingDivideByPOT (TFLM default),
// kSingle = one rounding shift of the 64-bit product (TFLITE_SINGLE_ROUNDING).
// kXnnpack is not device arithmetic: it reproduces desktop LiteRT, whose XNNPACK delegate requantizes
// CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / MEAN in float32 and ADD with its own integer scheme;
// the other operators (LiteRT's builtin kernels) compute as kSingle. It lets a disagreement between
// the device and LiteRT be split into "rounding" and "kernel bug".
enum class Rounding : uint8_t { kDouble = 0, kSingle = 1, kXnnpack = 2 };

const char* rounding_name(Rounding r);  // "double" / "single" / "xnnpack"
// Parses "double" / "single" / "xnnpack"; false for anything else.
bool parse_rounding(const char* name, Rounding* r);

class EngineClassifier : public sorter::Classifier {
 public:
  EngineClassifier();
  ~EngineClassifier() override;
  EngineClassifier(const EngineClassifier&) = delete;
  EngineClassifier& operator=(const EngineClassifier&) = delete;

  // Parses and prepares the model. Does NOT copy the bytes: the caller keeps them alive for as long as
  // this object uses them. Returns false with last_error() set when the model is malformed or uses an
  // op/type the engine does not implement.
  bool load(const uint8_t* data, size_t size);
  void set_rounding(Rounding r);
  Rounding rounding() const;

  bool ready() const override;
  const char* last_error() const override;
  const sorter::ModelDescription& description() const override;
  sorter::Status classify(const int8_t* input, size_t input_len, int8_t* scores, size_t scores_len,
                          uint32_t* invoke_us) override;
  size_t dump_tensor_count() const override;
  sorter::Status dump_tensor(size_t index, const int8_t** data, size_t* len,
                             const char** name) const override;

  // Labels from the 'plastisort' metadata entry (empty when absent).
  const std::vector<std::string>& labels() const;

  // Generic access for tools: byte sizes of the model input/output tensors (int8 elements; a float32
  // input/output tensor counts 4 bytes per element) and a run that leaves the output in output().
  size_t input_bytes() const;
  size_t output_bytes() const;
  sorter::Status invoke(const uint8_t* input, size_t input_len);
  const uint8_t* output() const;
  // Shape of the input tensor (e.g. {1, 224, 224, 3}) and of the output tensor.
  std::vector<int32_t> input_shape() const;
  std::vector<int32_t> output_shape() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace int8_engine
