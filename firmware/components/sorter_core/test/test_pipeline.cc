#include <cstring>
#include <vector>

#include "check.h"
#include "sorter/pipeline.h"

using namespace sorter;

namespace {

uint64_t fake_now = 0;
uint64_t fake_clock() { return fake_now += 10; }

class FakeCamera : public Camera {
 public:
  bool start_ok = true;
  bool capture_ok = true;
  bool is_started = false;
  int captures = 0, releases = 0;
  std::vector<uint8_t> pixels;
  uint16_t width = 8, height = 6;

  bool start() override {
    is_started = start_ok;
    return start_ok;
  }
  bool started() const override { return is_started; }
  bool capture(Frame* f) override {
    if (!capture_ok) return false;
    ++captures;
    *f = Frame{pixels.data(), pixels.size(), width, height, 0, PixelFormat::kRgb888};
    return true;
  }
  void release(const Frame&) override { ++releases; }
  const char* last_error() const override { return capture_ok ? "sensor not started" : "frame timeout"; }
};

// Scores class 0 for dark frames and class 1 for bright ones, from the mean of the int8 input.
class FakeClassifier : public Classifier {
 public:
  ModelDescription desc{};
  bool is_ready = true;
  std::vector<int8_t> last_input;
  FakeClassifier() {
    desc.input_width = 4;
    desc.input_height = 4;
    desc.input_channels = 3;
    desc.num_classes = 2;
    desc.output_quant = QuantParams{1.0f / 256, -128};
  }
  bool ready() const override { return is_ready; }
  const char* last_error() const override { return is_ready ? "" : "arena too small: need 123456 bytes"; }
  const ModelDescription& description() const override { return desc; }
  Status classify(const int8_t* input, size_t len, int8_t* scores, size_t scores_len, uint32_t* us) override {
    if (len != 48 || scores_len < 2) return Status::kBadInput;
    last_input.assign(input, input + len);
    long sum = 0;
    for (size_t i = 0; i < len; ++i) sum += input[i];
    const bool bright = sum > 0;
    scores[0] = bright ? -100 : 100;
    scores[1] = bright ? 100 : -100;
    *us = 1234;
    return Status::kOk;
  }
};

class RecordingGates : public Gates {
 public:
  std::vector<uint8_t> pulses;
  uint8_t bin_count() const override { return 4; }
  bool pulse(uint8_t bin, uint32_t) override {
    if (bin >= 4) return false;
    pulses.push_back(bin);
    return true;
  }
  const char* last_error() const override { return "bin out of range"; }
};

PipelineConfig pipeline_config() {
  PipelineConfig c{};
  c.resize_mode = ResizeMode::kCenterCrop;
  c.decision.num_classes = 2;
  c.decision.num_bins = 4;
  c.decision.reject_bin = 3;
  c.decision.class_to_bin[0] = 1;
  c.decision.class_to_bin[1] = 2;
  c.decision.min_score = 0;
  c.gate_hold_ms = 300;
  return c;
}

}  // namespace

TEST(pipeline_sorts_dark_and_bright_frames) {
  FakeCamera cam;
  FakeClassifier clf;
  RecordingGates gates;
  int8_t input[48], scores[2];
  SortingPipeline p(cam, clf, gates, pipeline_config(), input, sizeof input, scores, sizeof scores, fake_clock);
  CHECK(cam.start());
  cam.pixels.assign(8 * 6 * 3, 10);
  CycleResult r = p.run_once();
  CHECK(r.status == CycleStatus::kSorted);
  CHECK_EQ(r.decision.top_class, 0);
  CHECK_EQ(r.invoke_us, 1234u);
  CHECK(r.total_us > 0);
  for (int8_t v : clf.last_input) CHECK_OR_BREAK(v == 10 - 128);
  cam.pixels.assign(8 * 6 * 3, 250);
  r = p.run_once();
  CHECK_EQ(r.decision.top_class, 1);
  CHECK(gates.pulses == (std::vector<uint8_t>{1, 2}));
  CHECK_EQ(cam.captures, 2);
  CHECK_EQ(cam.releases, 2);
}

TEST(pipeline_failures_do_not_pulse_gates) {
  FakeCamera cam;
  FakeClassifier clf;
  RecordingGates gates;
  int8_t input[48], scores[2];
  SortingPipeline p(cam, clf, gates, pipeline_config(), input, sizeof input, scores, sizeof scores, fake_clock);
  cam.pixels.assign(8 * 6 * 3, 10);
  // Camera never started.
  CycleResult r = p.run_once();
  CHECK(r.status == CycleStatus::kCameraFailed);
  CHECK(std::strcmp(r.error, "sensor not started") == 0);
  cam.start();
  cam.capture_ok = false;
  r = p.run_once();
  CHECK(r.status == CycleStatus::kCameraFailed);
  CHECK(std::strcmp(r.error, "frame timeout") == 0);
  cam.capture_ok = true;
  clf.is_ready = false;
  r = p.run_once();
  CHECK(r.status == CycleStatus::kClassifierNotReady);
  CHECK(std::strstr(r.error, "123456") != nullptr);
  clf.is_ready = true;
  cam.pixels.resize(10);  // shorter than the frame claims
  r = p.run_once();
  CHECK(r.status == CycleStatus::kPreprocessFailed);
  CHECK_EQ(cam.captures, cam.releases);
  CHECK(gates.pulses.empty());
  // Buffers smaller than the model needs.
  int8_t small[8];
  SortingPipeline q(cam, clf, gates, pipeline_config(), small, sizeof small, scores, sizeof scores, fake_clock);
  CHECK(q.run_once().status == CycleStatus::kBufferTooSmall);
}

TEST(pipeline_rejects_low_confidence_to_reject_bin) {
  FakeCamera cam;
  FakeClassifier clf;
  RecordingGates gates;
  int8_t input[48], scores[2];
  PipelineConfig c = pipeline_config();
  c.decision.min_score = 101;
  SortingPipeline p(cam, clf, gates, c, input, sizeof input, scores, sizeof scores, fake_clock);
  cam.start();
  cam.pixels.assign(8 * 6 * 3, 10);
  const CycleResult r = p.run_once();
  CHECK(r.status == CycleStatus::kSorted);
  CHECK(r.decision.reason == DecisionReason::kBelowThreshold);
  CHECK(gates.pulses == (std::vector<uint8_t>{3}));
}
