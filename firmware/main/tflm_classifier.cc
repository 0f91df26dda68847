#include "tflm_classifier.h"

#include <cstdio>
#include <cstring>
#include <new>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tensorflow/lite/schema/schema_utils.h"

static const char* TAG = "tflm";

TflmClassifier::TflmClassifier() = default;

TflmClassifier::~TflmClassifier() { unload(); }

void TflmClassifier::unload() {
  if (interpreter_ != nullptr) {
    interpreter_->~MicroInterpreter();
    heap_caps_free(interpreter_);
    interpreter_ = nullptr;
  }
  if (arena_ != nullptr) {
    heap_caps_free(arena_);
    arena_ = nullptr;
  }
  arena_size_ = 0;
}

bool TflmClassifier::check_ops() {
  // The resolver was generated for the built-in model. A model from the partition may use other
  // ops: name the first missing one instead of failing deep inside AllocateTensors().
  const auto* codes = model_->operator_codes();
  if (codes == nullptr) return true;
  for (size_t i = 0; i < codes->size(); ++i) {
    const tflite::BuiltinOperator op = tflite::GetBuiltinCode(codes->Get(i));
    if (op == tflite::BuiltinOperator_CUSTOM || resolver_.FindOp(op) == nullptr) {
      std::snprintf(error_, sizeof error_,
                    "model uses op %s, which this firmware's resolver (made for the built-in model) lacks; "
                    "rebuild the firmware with this model as models/default.tflite",
                    tflite::EnumNameBuiltinOperator(op));
      return false;
    }
  }
  return true;
}

size_t TflmClassifier::largest_free_block() const {
  return heap_caps_get_largest_free_block(MALLOC_CAP_SPIRAM);
}

sorter::ArenaTry TflmClassifier::try_arena(size_t arena_bytes, size_t* used) {
  unload();
  arena_ = static_cast<uint8_t*>(heap_caps_aligned_alloc(16, arena_bytes, MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT));
  if (arena_ == nullptr) return sorter::ArenaTry::kNoMemory;
  arena_size_ = arena_bytes;
  void* mem = heap_caps_malloc(sizeof(tflite::MicroInterpreter), MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
  if (mem == nullptr) {
    unload();
    return sorter::ArenaTry::kNoMemory;
  }
  interpreter_ = new (mem) tflite::MicroInterpreter(model_, resolver_, arena_, arena_bytes, nullptr, nullptr,
                                                    preserve_all_);
  if (interpreter_->AllocateTensors() != kTfLiteOk) {
    unload();
    return sorter::ArenaTry::kTooSmall;
  }
  *used = interpreter_->arena_used_bytes();
  return sorter::ArenaTry::kOk;
}

bool TflmClassifier::load(const uint8_t* model_data, size_t model_len, const uint8_t sha256[32], size_t arena_bytes,
                          bool preserve_all_tensors) {
  unload();
  desc_ = {};
  // Registered on first load rather than in a static constructor, whose order TFLM does not promise.
  if (!resolver_registered_) {
    resolver_ok_ = plastisort_model::RegisterModelOps(resolver_) == kTfLiteOk;
    resolver_registered_ = true;
  }
  if (!resolver_ok_) {
    std::snprintf(error_, sizeof error_, "op resolver registration failed (op_resolver.h and kOpCount disagree)");
    return false;
  }
  if (model_data == nullptr || model_len < 8 || std::memcmp(model_data + 4, "TFL3", 4) != 0) {
    std::snprintf(error_, sizeof error_, "not a TFLite model");
    return false;
  }
  model_ = tflite::GetModel(model_data);
  if (model_->version() != TFLITE_SCHEMA_VERSION) {
    std::snprintf(error_, sizeof error_, "model schema version %u, this TFLM reads %d",
                  static_cast<unsigned>(model_->version()), TFLITE_SCHEMA_VERSION);
    return false;
  }
  if (!check_ops()) return false;
  model_data_ = model_data;
  model_len_ = model_len;
  preserve_all_ = preserve_all_tensors;

  const sorter::ArenaChoice arena = sorter::choose_arena(*this, arena_bytes, kMeasuredArenaHeadroom);
  switch (arena.outcome) {
    case sorter::ArenaOutcome::kPlanned:
      break;
    case sorter::ArenaOutcome::kMeasured:
      ESP_LOGI(TAG, "arena measured for this model: %u bytes used, %u allocated", static_cast<unsigned>(arena.needed),
               static_cast<unsigned>(arena.allocated));
      break;
    case sorter::ArenaOutcome::kPlannedTooSmall:
      ESP_LOGW(TAG, "the planned %u-byte arena is too small: the model needs %u bytes; raise PLASTISORT_ARENA_EXTRA_KB by %u (running with %u bytes)",
               static_cast<unsigned>(arena_bytes), static_cast<unsigned>(arena.needed),
               static_cast<unsigned>((arena.needed - arena_bytes + 1023) / 1024), static_cast<unsigned>(arena.allocated));
      break;
    case sorter::ArenaOutcome::kNoMemory:
      std::snprintf(error_, sizeof error_, "cannot allocate a tensor arena in PSRAM (largest free block %u bytes%s%u)",
                    static_cast<unsigned>(heap_caps_get_largest_free_block(MALLOC_CAP_SPIRAM)),
                    arena.needed > 0 ? "; the model needs " : "", static_cast<unsigned>(arena.needed));
      return false;
    case sorter::ArenaOutcome::kModelTooBig:
      std::snprintf(error_, sizeof error_, "the model does not fit in PSRAM: AllocateTensors() failed in a %u-byte arena, nearly all there is (TFLM printed the shortfall above)",
                    static_cast<unsigned>(arena.probed));
      return false;
  }

  const TfLiteTensor* in = interpreter_->input(0);
  const TfLiteTensor* out = interpreter_->output(0);
  if (in == nullptr || out == nullptr || in->type != kTfLiteInt8 || out->type != kTfLiteInt8 || in->dims->size != 4 ||
      in->dims->data[0] != 1 || in->dims->data[3] != 3) {
    std::snprintf(error_, sizeof error_, "model input must be int8 [1,H,W,3] and output int8 scores");
    unload();
    return false;
  }
  desc_.input_height = static_cast<uint16_t>(in->dims->data[1]);
  desc_.input_width = static_cast<uint16_t>(in->dims->data[2]);
  desc_.input_channels = 3;
  desc_.input_quant = sorter::QuantParams{in->params.scale, in->params.zero_point};
  desc_.output_quant = sorter::QuantParams{out->params.scale, out->params.zero_point};
  desc_.num_classes = static_cast<uint16_t>(out->dims->data[out->dims->size - 1]);
  desc_.arena_used_bytes = static_cast<uint32_t>(interpreter_->arena_used_bytes());
  std::memcpy(desc_.model_sha256, sha256, 32);
  error_[0] = '\0';
  ESP_LOGI(TAG, "interpreter ready: input %ux%ux3, %u classes, arena %u of %u bytes used", desc_.input_width,
           desc_.input_height, desc_.num_classes, static_cast<unsigned>(desc_.arena_used_bytes),
           static_cast<unsigned>(arena_size_));
  return true;
}

sorter::Status TflmClassifier::classify(const int8_t* input, size_t input_len, int8_t* scores, size_t scores_len,
                                        uint32_t* invoke_us) {
  if (!ready()) return sorter::Status::kNotReady;
  const size_t need = static_cast<size_t>(desc_.input_width) * desc_.input_height * desc_.input_channels;
  if (input == nullptr || input_len != need || scores == nullptr || scores_len < desc_.num_classes) {
    std::snprintf(error_, sizeof error_, "input of %u values, the model takes %u", static_cast<unsigned>(input_len),
                  static_cast<unsigned>(need));
    return sorter::Status::kBadInput;
  }
  std::memcpy(interpreter_->input(0)->data.int8, input, need);
  const int64_t t0 = esp_timer_get_time();
  const TfLiteStatus st = interpreter_->Invoke();
  const int64_t t1 = esp_timer_get_time();
  if (invoke_us != nullptr) *invoke_us = static_cast<uint32_t>(t1 - t0);
  if (st != kTfLiteOk) {
    std::snprintf(error_, sizeof error_, "Invoke() failed");
    return sorter::Status::kInvokeFailed;
  }
  std::memcpy(scores, interpreter_->output(0)->data.int8, desc_.num_classes);
  return sorter::Status::kOk;
}

size_t TflmClassifier::dump_tensor_count() const {
  if (!ready() || !preserve_all_) return 0;
  const auto* ops = model_->subgraphs()->Get(0)->operators();
  return ops == nullptr ? 0 : ops->size();
}

sorter::Status TflmClassifier::dump_tensor(size_t index, const int8_t** data, size_t* len, const char** name) const {
  if (index >= dump_tensor_count()) return sorter::Status::kNoSuchTensor;
  const auto* subgraph = model_->subgraphs()->Get(0);
  const auto* op = subgraph->operators()->Get(static_cast<flatbuffers::uoffset_t>(index));
  if (op->outputs() == nullptr || op->outputs()->size() == 0) return sorter::Status::kNoSuchTensor;
  const int tensor_index = op->outputs()->Get(0);
  TfLiteEvalTensor* t = const_cast<tflite::MicroInterpreter*>(interpreter_)->GetTensor(tensor_index);
  if (t == nullptr || t->type != kTfLiteInt8) return sorter::Status::kNoSuchTensor;
  size_t n = 1;
  for (int d = 0; d < t->dims->size; ++d) n *= static_cast<size_t>(t->dims->data[d]);
  *data = t->data.int8;
  *len = n;
  const auto* fb_tensor = subgraph->tensors()->Get(static_cast<flatbuffers::uoffset_t>(tensor_index));
  *name = (fb_tensor->name() != nullptr) ? fb_tensor->name()->c_str() : "";
  return sorter::Status::kOk;
}

const char* TflmClassifier::plastisort_metadata(size_t* len) const {
  *len = 0;
  if (model_ == nullptr || model_->metadata() == nullptr || model_->buffers() == nullptr) return nullptr;
  for (size_t i = 0; i < model_->metadata()->size(); ++i) {
    const auto* entry = model_->metadata()->Get(static_cast<flatbuffers::uoffset_t>(i));
    if (entry->name() == nullptr || std::strcmp(entry->name()->c_str(), "plastisort") != 0) continue;
    if (entry->buffer() >= model_->buffers()->size()) return nullptr;
    const auto* data = model_->buffers()->Get(entry->buffer())->data();
    if (data == nullptr) return nullptr;
    *len = data->size();
    return reinterpret_cast<const char*>(data->data());
  }
  return nullptr;
}
