// Test helper: writes small .tflite flatbuffers (a forward-laid-out flatbuffer writer plus the TFLite
// schema fields the engine reads), so the parser and kernels can be tested on models built in the test.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace testmodel {

struct Fb;
using FbPtr = std::shared_ptr<Fb>;

// One flatbuffer object: a table, a vector of scalars, a vector of objects, or a string.
struct Fb {
  enum Kind { kTable, kScalars, kRefs, kString } kind = kTable;
  struct Field {
    bool present = false;
    bool is_ref = false;
    std::vector<uint8_t> scalar;
    FbPtr ref;
  };
  std::vector<Field> fields;
  std::vector<uint8_t> bytes;
  uint32_t elem_size = 1;
  uint32_t count = 0;
  std::vector<FbPtr> refs;

  template <typename T>
  Fb& set(int id, T v) {
    grow(id);
    fields[id].present = true;
    fields[id].scalar.resize(sizeof(T));
    std::memcpy(fields[id].scalar.data(), &v, sizeof(T));
    return *this;
  }
  Fb& ref(int id, FbPtr p) {
    grow(id);
    fields[id].present = true;
    fields[id].is_ref = true;
    fields[id].ref = std::move(p);
    return *this;
  }
  void grow(int id) {
    if (fields.size() <= static_cast<size_t>(id)) fields.resize(id + 1);
  }
};

FbPtr table();
FbPtr str(const std::string& s);
FbPtr refs(std::vector<FbPtr> items);
template <typename T>
FbPtr scalars(const std::vector<T>& v) {
  auto p = std::make_shared<Fb>();
  p->kind = Fb::kScalars;
  p->elem_size = sizeof(T);
  p->count = static_cast<uint32_t>(v.size());
  p->bytes.resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(p->bytes.data(), v.data(), p->bytes.size());
  return p;
}
std::vector<uint8_t> finish(const FbPtr& root, const char* identifier = "TFL3");

// TFLite-level helpers.
struct Tensor {
  std::string name;
  int8_t type = 9;  // int8
  std::vector<int32_t> shape;
  std::vector<float> scales;
  std::vector<int64_t> zero_points;
  int32_t quantized_dimension = 0;
  std::vector<uint8_t> data;  // constant bytes, empty for activations
};
struct Op {
  int32_t code = 0;
  std::vector<int32_t> inputs, outputs;
  uint8_t options_type = 0;
  FbPtr options;  // may be null
  bool use_deprecated_code = false;  // store the code only in deprecated_builtin_code
};
struct Model {
  std::vector<Tensor> tensors;
  std::vector<Op> ops;
  std::vector<int32_t> inputs, outputs;
  std::string plastisort_json;  // stored as metadata 'plastisort' when non-empty
};
std::vector<uint8_t> build(const Model& m);

template <typename T>
std::vector<uint8_t> raw(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

}  // namespace testmodel
