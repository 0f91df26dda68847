// sorter::Classifier on TensorFlow Lite Micro (esp-tflite-micro, ESP-NN kernels), arena in PSRAM.
// load() never aborts: on any problem the classifier stays not ready with the reason in last_error().
#pragma once

#include <cstddef>
#include <cstdint>

#include "op_resolver.h"
#include "sorter/arena_sizing.h"
#include "sorter/classifier.h"
#include "tensorflow/lite/micro/micro_interpreter.h"

class TflmClassifier : public sorter::Classifier, private sorter::ArenaPlanner {
 public:
  TflmClassifier();
  ~TflmClassifier() override;

  // arena_bytes: the planned size, 0 when not known (a model other than the built-in one). When it is
  // unknown or too small, sorter::choose_arena plans the model in nearly all free PSRAM, then keeps
  // only what that plan used plus kMeasuredArenaHeadroom; a too-small plan is logged with the size
  // the model needs.
  bool load(const uint8_t* model_data, size_t model_len, const uint8_t sha256[32], size_t arena_bytes,
            bool preserve_all_tensors);
  void unload();

  bool ready() const override { return interpreter_ != nullptr; }
  const char* last_error() const override { return error_; }
  const sorter::ModelDescription& description() const override { return desc_; }
  sorter::Status classify(const int8_t* input, size_t input_len, int8_t* scores, size_t scores_len,
                          uint32_t* invoke_us) override;
  size_t dump_tensor_count() const override;
  sorter::Status dump_tensor(size_t index, const int8_t** data, size_t* len, const char** name) const override;

  // The running model's "plastisort" metadata (JSON, not NUL-terminated); null when it has none.
  const char* plastisort_metadata(size_t* len) const;

  static constexpr size_t kMeasuredArenaHeadroom = 1024;

  const uint8_t* model_data() const { return model_data_; }
  size_t model_len() const { return model_len_; }

 private:
  bool check_ops();
  // sorter::ArenaPlanner over PSRAM and TFLM's AllocateTensors().
  size_t largest_free_block() const override;
  sorter::ArenaTry try_arena(size_t bytes, size_t* used) override;
  void release() override { unload(); }

  plastisort_model::OpResolver resolver_;
  bool resolver_registered_ = false;
  bool resolver_ok_ = false;
  const tflite::Model* model_ = nullptr;
  const uint8_t* model_data_ = nullptr;
  size_t model_len_ = 0;
  uint8_t* arena_ = nullptr;
  size_t arena_size_ = 0;
  tflite::MicroInterpreter* interpreter_ = nullptr;
  sorter::ModelDescription desc_ = {};
  bool preserve_all_ = false;
  char error_[192] = "no model loaded";
};
