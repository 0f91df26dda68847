#pragma once
#include <cstddef>
#include <cstdint>
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#define TFLITE_SCHEMA_VERSION (3)
struct TfLiteIntArray { int size; int data[4]; };
struct TfLiteQuantizationParams { float scale; int32_t zero_point; };
union TfLitePtrUnion { int8_t* int8; uint8_t* uint8; float* f; };
struct TfLiteTensor { TfLiteType type; TfLitePtrUnion data; TfLiteIntArray* dims; TfLiteQuantizationParams params; };
struct TfLiteEvalTensor { TfLitePtrUnion data; TfLiteIntArray* dims; TfLiteType type; };
namespace tflite {
class MicroResourceVariables; class MicroProfilerInterface;
class MicroInterpreter {
 public:
  MicroInterpreter(const Model* model, const MicroOpResolver& op_resolver, uint8_t* tensor_arena, size_t tensor_arena_size,
                   MicroResourceVariables* resource_variables = nullptr, MicroProfilerInterface* profiler = nullptr,
                   bool preserve_all_tensors = false);
  ~MicroInterpreter();
  TfLiteStatus AllocateTensors();
  TfLiteStatus Invoke();
  TfLiteTensor* input(size_t index);
  TfLiteTensor* output(size_t index);
  TfLiteEvalTensor* GetTensor(int tensor_index, int subgraph_index = 0);
  size_t arena_used_bytes() const;
};
}
