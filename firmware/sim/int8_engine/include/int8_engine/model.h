// The parts of a .tflite model the engine executes, parsed out of the flatbuffer with all indices,
// shapes and buffer sizes validated, so that kernels can index without further checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace int8_engine {

// TFLite schema enum values.
enum class TensorType : int8_t { kFloat32 = 0, kInt32 = 2, kUInt8 = 3, kInt64 = 4, kInt16 = 7, kInt8 = 9 };
enum class Activation : int8_t { kNone = 0, kRelu = 1, kReluN1To1 = 2, kRelu6 = 3 };
enum class Padding : int8_t { kSame = 0, kValid = 1 };

enum BuiltinOp : int32_t {
  kOpAdd = 0,
  kOpAveragePool2D = 1,
  kOpConv2D = 3,
  kOpDepthwiseConv2D = 4,
  kOpDequantize = 6,
  kOpFullyConnected = 9,
  kOpMaxPool2D = 17,
  kOpRelu = 19,
  kOpRelu6 = 21,
  kOpReshape = 22,
  kOpSoftmax = 25,
  kOpPad = 34,
  kOpMean = 40,
  kOpSqueeze = 43,
  kOpQuantize = 114,
};
const char* op_name(int32_t code);

struct TensorInfo {
  std::string name;
  TensorType type = TensorType::kInt8;
  std::vector<int32_t> shape;
  size_t elements = 0;
  size_t bytes = 0;
  // Quantization: one scale/zero point, or one per channel along quantized_dimension.
  std::vector<float> scales;
  std::vector<int64_t> zero_points;
  int32_t quantized_dimension = 0;
  // Constant data inside the model bytes (nullptr for activations).
  const uint8_t* constant = nullptr;

  float scale() const { return scales.empty() ? 0.0f : scales[0]; }
  int32_t zero_point() const { return zero_points.empty() ? 0 : static_cast<int32_t>(zero_points[0]); }
};

struct OpInfo {
  int32_t code = -1;
  std::vector<int32_t> inputs;   // -1 = optional input omitted
  std::vector<int32_t> outputs;
  // Options (only the ones meaningful for `code` are set).
  Padding padding = Padding::kSame;
  int32_t stride_w = 1, stride_h = 1, dilation_w = 1, dilation_h = 1;
  int32_t filter_w = 1, filter_h = 1, depth_multiplier = 1;
  Activation activation = Activation::kNone;
  bool keep_dims = false;
  float beta = 1.0f;
};

struct ParsedModel {
  uint32_t version = 0;
  std::vector<TensorInfo> tensors;
  std::vector<OpInfo> ops;
  std::vector<int32_t> inputs;
  std::vector<int32_t> outputs;
  std::string plastisort_metadata;  // UTF-8 JSON, empty when absent
};

// Parses `data` (not copied: TensorInfo::constant points into it). Returns false with `error` set.
bool parse_model(const uint8_t* data, size_t size, ParsedModel* out, std::string* error);

// Labels from the plastisort metadata JSON ("labels": ["a", "b", ...]); empty on any problem.
std::vector<std::string> parse_labels_json(const std::string& json);

}  // namespace int8_engine
