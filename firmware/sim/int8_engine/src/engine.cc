#include "int8_engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "int8_engine/model.h"
#include "int8_engine/sha256.h"
#include "ops/op.h"

namespace int8_engine {

const char* rounding_name(Rounding r) {
  switch (r) {
    case Rounding::kSingle: return "single";
    case Rounding::kXnnpack: return "xnnpack";
    default: return "double";
  }
}

bool parse_rounding(const char* name, Rounding* r) {
  const std::string n = name ? name : "";
  if (n == "double") *r = Rounding::kDouble;
  else if (n == "single") *r = Rounding::kSingle;
  else if (n == "xnnpack") *r = Rounding::kXnnpack;
  else return false;
  return true;
}

namespace {

constexpr uint64_t kMaxActivationBytes = uint64_t{256} << 20;
#ifndef INT8_ENGINE_MAX_MACS
#define INT8_ENGINE_MAX_MACS 2e10
#endif
constexpr double kMaxMacs = INT8_ENGINE_MAX_MACS;

// One operator of the graph once prepared: its registration (src/ops/registry.cc) and the parameters
// its prepare computed.
struct PreparedOp {
  const OpInfo* op = nullptr;
  const ops::Registration* registration = nullptr;
  std::unique_ptr<ops::OpData> data;
};

}  // namespace

struct EngineClassifier::Impl {
  const uint8_t* data = nullptr;
  size_t size = 0;
  ParsedModel model;
  bool loaded = false;
  std::string error = "no model loaded";
  Rounding rounding = Rounding::kDouble;
  sorter::ModelDescription desc{};
  std::vector<std::string> labels;
  std::vector<PreparedOp> prepared;
  std::vector<std::vector<uint8_t>> storage;  // per tensor; empty for constants
  int32_t input_index = -1, output_index = -1;

  const uint8_t* tensor_data(int32_t i) const {
    const TensorInfo& t = model.tensors[i];
    if (t.constant) return t.constant;
    return storage[i].data();
  }
  uint8_t* tensor_mut(int32_t i) { return storage[i].data(); }

  bool fail(const std::string& why) {
    error = why;
    loaded = false;
    return false;
  }
  bool prepare();
  bool prepare_op(size_t index, PreparedOp* p, double* macs);
};

// The checks every operator shares, then the operator's own prepare.
bool EngineClassifier::Impl::prepare_op(size_t index, PreparedOp* p, double* macs) {
  const OpInfo& op = *p->op;
  ops::PrepareContext ctx(model, op, index, rounding, macs);
  auto reject = [&](const std::string& why) {
    ctx.fail(why);
    return fail(ctx.error());
  };
  if (op.outputs.size() != 1) return reject("expected exactly one output");
  if (ctx.output().constant) return reject("writes into a constant tensor");
  if (!ctx.input(0)) return reject("missing input");
  p->registration = ops::find_registration(op.code);
  if (!p->registration) return reject("operator code " + std::to_string(op.code) + " is not implemented by the int8 engine");
  if (!p->registration->prepare(ctx, &p->data)) return fail(ctx.error());
  return true;
}

bool EngineClassifier::Impl::prepare() {
  prepared.clear();
  prepared.resize(model.ops.size());
  double macs = 0;
  for (size_t i = 0; i < model.ops.size(); ++i) {
    prepared[i].op = &model.ops[i];
    if (!prepare_op(i, &prepared[i], &macs)) return false;
  }
  if (macs > kMaxMacs) return fail("model needs more multiply-accumulates per inference than this build allows (" + std::to_string(kMaxMacs) + ")");
  return true;
}

EngineClassifier::EngineClassifier() : impl_(new Impl) {}
EngineClassifier::~EngineClassifier() = default;

bool EngineClassifier::load(const uint8_t* data, size_t size) {
  Impl& m = *impl_;
  m.loaded = false;
  m.prepared.clear();
  m.storage.clear();
  m.labels.clear();
  m.desc = sorter::ModelDescription{};
  m.data = data;
  m.size = size;
  std::string err;
  if (!parse_model(data, size, &m.model, &err)) return m.fail("model parse failed: " + err);
  sha256(data, size, m.desc.model_sha256);
  m.labels = parse_labels_json(m.model.plastisort_metadata);
  m.input_index = m.model.inputs[0];
  m.output_index = m.model.outputs[0];

  uint64_t total = 0;
  m.storage.resize(m.model.tensors.size());
  for (size_t i = 0; i < m.model.tensors.size(); ++i) {
    const TensorInfo& t = m.model.tensors[i];
    if (t.constant) continue;
    total += t.bytes;
    if (total > kMaxActivationBytes) return m.fail("model activations exceed 256 MiB");
  }
  if (m.model.tensors[m.input_index].constant) return m.fail("model input is a constant tensor");
  for (size_t i = 0; i < m.model.tensors.size(); ++i) {
    const TensorInfo& t = m.model.tensors[i];
    if (!t.constant) m.storage[i].assign(t.bytes, 0);
  }
  if (!m.prepare()) return false;

  const TensorInfo& in = m.model.tensors[m.input_index];
  const TensorInfo& out = m.model.tensors[m.output_index];
  auto dim = [](const std::vector<int32_t>& s, size_t i) -> uint16_t {
    return i < s.size() ? static_cast<uint16_t>(std::min<int32_t>(s[i], 65535)) : 0;
  };
  if (in.shape.size() == 4) {
    m.desc.input_height = dim(in.shape, 1);
    m.desc.input_width = dim(in.shape, 2);
    m.desc.input_channels = dim(in.shape, 3);
  } else {
    m.desc.input_width = static_cast<uint16_t>(std::min<size_t>(in.elements, 65535));
    m.desc.input_height = 1;
    m.desc.input_channels = 1;
  }
  m.desc.input_quant = {in.scale(), in.zero_point()};
  m.desc.output_quant = {out.scale(), out.zero_point()};
  m.desc.num_classes = static_cast<uint16_t>(std::min<size_t>(out.elements, 65535));
  m.desc.arena_used_bytes = 0;
  m.loaded = true;
  m.error = "";
  return true;
}

void EngineClassifier::set_rounding(Rounding r) {
  impl_->rounding = r;
  if (impl_->loaded && !impl_->prepare()) impl_->loaded = false;
}
Rounding EngineClassifier::rounding() const { return impl_->rounding; }
bool EngineClassifier::ready() const { return impl_->loaded; }
const char* EngineClassifier::last_error() const { return impl_->error.c_str(); }
const sorter::ModelDescription& EngineClassifier::description() const { return impl_->desc; }
const std::vector<std::string>& EngineClassifier::labels() const { return impl_->labels; }

size_t EngineClassifier::input_bytes() const {
  return impl_->loaded ? impl_->model.tensors[impl_->input_index].bytes : 0;
}
size_t EngineClassifier::output_bytes() const {
  return impl_->loaded ? impl_->model.tensors[impl_->output_index].bytes : 0;
}
std::vector<int32_t> EngineClassifier::input_shape() const {
  return impl_->loaded ? impl_->model.tensors[impl_->input_index].shape : std::vector<int32_t>{};
}
std::vector<int32_t> EngineClassifier::output_shape() const {
  return impl_->loaded ? impl_->model.tensors[impl_->output_index].shape : std::vector<int32_t>{};
}
const uint8_t* EngineClassifier::output() const {
  return impl_->loaded ? impl_->tensor_data(impl_->output_index) : nullptr;
}

sorter::Status EngineClassifier::invoke(const uint8_t* input, size_t input_len) {
  Impl& m = *impl_;
  if (!m.loaded) return sorter::Status::kNotReady;
  if (input_len != m.model.tensors[m.input_index].bytes) {
    m.error = "input has " + std::to_string(input_len) + " bytes, the model expects " +
              std::to_string(m.model.tensors[m.input_index].bytes);
    return sorter::Status::kBadInput;
  }
  if (input_len) std::memcpy(m.tensor_mut(m.input_index), input, input_len);
  for (PreparedOp& p : m.prepared) {
    p.registration->eval(ops::EvalContext(m.model, m.storage, *p.op, m.rounding), p.data.get());
  }
  return sorter::Status::kOk;
}

sorter::Status EngineClassifier::classify(const int8_t* input, size_t input_len, int8_t* scores, size_t scores_len,
                                          uint32_t* invoke_us) {
  Impl& m = *impl_;
  if (!m.loaded) return sorter::Status::kNotReady;
  const TensorInfo& in = m.model.tensors[m.input_index];
  const TensorInfo& out = m.model.tensors[m.output_index];
  if (in.type != TensorType::kInt8 || out.type != TensorType::kInt8) {
    m.error = "classify() needs an int8 model input and output";
    return sorter::Status::kInvokeFailed;
  }
  if (scores_len != out.elements) {
    m.error = "scores buffer has " + std::to_string(scores_len) + " values, the model outputs " +
              std::to_string(out.elements);
    return sorter::Status::kBadInput;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const sorter::Status s = invoke(reinterpret_cast<const uint8_t*>(input), input_len);
  const auto t1 = std::chrono::steady_clock::now();
  if (s != sorter::Status::kOk) return s;
  if (invoke_us) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count();
    *invoke_us = static_cast<uint32_t>(us > 0xFFFFFFFFll ? 0xFFFFFFFFll : us);
  }
  std::memcpy(scores, m.tensor_data(m.output_index), out.elements);
  return sorter::Status::kOk;
}

size_t EngineClassifier::dump_tensor_count() const { return impl_->loaded ? impl_->prepared.size() : 0; }

sorter::Status EngineClassifier::dump_tensor(size_t index, const int8_t** data, size_t* len, const char** name) const {
  const Impl& m = *impl_;
  if (!m.loaded || index >= m.prepared.size()) return sorter::Status::kNoSuchTensor;
  const int32_t t = m.prepared[index].op->outputs[0];
  if (data) *data = reinterpret_cast<const int8_t*>(m.tensor_data(t));
  if (len) *len = m.model.tensors[t].bytes;
  if (name) *name = m.model.tensors[t].name.c_str();
  return sorter::Status::kOk;
}

}  // namespace int8_engine
