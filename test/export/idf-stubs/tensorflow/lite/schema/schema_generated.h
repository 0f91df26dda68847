#pragma once
#include <cstdint>
#include "flatbuffers/flatbuffers.h"
namespace tflite {
enum BuiltinOperator : int32_t { BuiltinOperator_ADD = 0, BuiltinOperator_CUSTOM = 32 };
const char* EnumNameBuiltinOperator(BuiltinOperator e);
struct OperatorCode {};
struct Operator { const flatbuffers::Vector<int32_t>* outputs() const; };
struct Tensor { const flatbuffers::String* name() const; };
struct SubGraph { const flatbuffers::Vector<const Operator*>* operators() const; const flatbuffers::Vector<const Tensor*>* tensors() const; };
struct Buffer { const flatbuffers::Vector<uint8_t>* data() const; };
struct Metadata { const flatbuffers::String* name() const; uint32_t buffer() const; };
struct Model {
  uint32_t version() const;
  const flatbuffers::Vector<const OperatorCode*>* operator_codes() const;
  const flatbuffers::Vector<const SubGraph*>* subgraphs() const;
  const flatbuffers::Vector<const Buffer*>* buffers() const;
  const flatbuffers::Vector<const Metadata*>* metadata() const;
};
inline const Model* GetModel(const void* buf) { return static_cast<const Model*>(buf); }
}
