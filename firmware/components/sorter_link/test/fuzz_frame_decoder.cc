// libFuzzer target: arbitrary bytes through the streaming frame decoder (with a small maximum so the
// oversized path is reachable) and through the dispatcher over a tiny always-ready classifier.
#include <cstddef>
#include <cstdint>

#include "sorter/classifier.h"
#include "sorter_link/dispatcher.h"
#include "sorter_link/frame.h"

namespace {

class NullSink : public sorter_link::ByteSink {
 public:
  void write(const uint8_t*, size_t) override {}
};

class TinyClassifier : public sorter::Classifier {
 public:
  TinyClassifier() {
    desc_.input_width = 2;
    desc_.input_height = 2;
    desc_.input_channels = 3;
    desc_.num_classes = 3;
  }
  bool ready() const override { return true; }
  const char* last_error() const override { return ""; }
  const sorter::ModelDescription& description() const override { return desc_; }
  sorter::Status classify(const int8_t* in, size_t n, int8_t* s, size_t ns, uint32_t* us) override {
    for (size_t i = 0; i < ns; ++i) s[i] = n ? in[i % n] : 0;
    *us = 1;
    return sorter::Status::kOk;
  }
  size_t dump_tensor_count() const override { return 1; }
  sorter::Status dump_tensor(size_t, const int8_t** d, size_t* n, const char** name) const override {
    static const int8_t data[5] = {1, 2, 3, 4, 5};
    *d = data;
    *n = 5;
    *name = "t";
    return sorter::Status::kOk;
  }

 private:
  sorter::ModelDescription desc_{};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static TinyClassifier classifier;
  static NullSink sink;
  static const char* labels[] = {"a", "b", "c"};
  sorter_link::DeviceIdentity id;
  id.labels = labels;
  id.num_labels = 3;
  static sorter_link::Dispatcher dispatcher(classifier, id, sink);
  sorter_link::FrameDecoder small(64);
  for (size_t i = 0; i < size; ++i) {
    if (small.push(data[i]) == sorter_link::FrameDecoder::Event::kFrame) {
      sorter_link::PayloadReader r(small.payload(), small.payload_len());
      while (r.ok() && r.remaining()) r.u16();
    }
  }
  dispatcher.feed(data, size);
  return 0;
}
