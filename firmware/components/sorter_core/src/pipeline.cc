#include "sorter/pipeline.h"

namespace sorter {

const char* cycle_status_str(CycleStatus status) {
  switch (status) {
    case CycleStatus::kSorted:
      return "sorted";
    case CycleStatus::kCameraFailed:
      return "camera failed";
    case CycleStatus::kPreprocessFailed:
      return "preprocessing failed";
    case CycleStatus::kClassifierNotReady:
      return "classifier not ready";
    case CycleStatus::kClassifyFailed:
      return "classification failed";
    case CycleStatus::kGateFailed:
      return "gate failed";
    case CycleStatus::kBufferTooSmall:
      return "input or score buffer smaller than the model needs";
  }
  return "unknown";
}

SortingPipeline::SortingPipeline(Camera& camera, Classifier& classifier, Gates& gates,
                                 const PipelineConfig& config, int8_t* input, size_t input_len,
                                 int8_t* scores, size_t scores_len, MicrosClock clock)
    : camera_(camera),
      classifier_(classifier),
      gates_(gates),
      config_(config),
      input_(input),
      input_len_(input_len),
      scores_(scores),
      scores_len_(scores_len),
      clock_(clock) {}

CycleResult SortingPipeline::run_once() {
  CycleResult r{};
  r.decision = Decision{-1, -128, -128, config_.decision.reject_bin, DecisionReason::kNoScores};
  r.error = "";
  const uint64_t t0 = clock_();
  auto fail = [&](CycleStatus s, const char* why) {
    r.status = s;
    r.error = why;
    r.total_us = static_cast<uint32_t>(clock_() - t0);
    return r;
  };
  if (!classifier_.ready()) return fail(CycleStatus::kClassifierNotReady, classifier_.last_error());
  const ModelDescription& md = classifier_.description();
  const size_t in_len = static_cast<size_t>(md.input_width) * md.input_height * md.input_channels;
  if (in_len > input_len_ || md.num_classes > scores_len_ || input_ == nullptr || scores_ == nullptr) {
    return fail(CycleStatus::kBufferTooSmall, cycle_status_str(CycleStatus::kBufferTooSmall));
  }
  if (!camera_.started()) return fail(CycleStatus::kCameraFailed, camera_.last_error());
  Frame frame{};
  if (!camera_.capture(&frame)) return fail(CycleStatus::kCameraFailed, camera_.last_error());
  const uint64_t t1 = clock_();
  const PreprocessStatus ps = preprocess_frame(frame, config_.resize_mode, input_, in_len, md.input_width,
                                               md.input_height, md.input_channels);
  camera_.release(frame);
  const uint64_t t2 = clock_();
  r.preprocess_us = static_cast<uint32_t>(t2 - t1);
  if (ps != PreprocessStatus::kOk) return fail(CycleStatus::kPreprocessFailed, preprocess_status_str(ps));
  uint32_t invoke_us = 0;
  const Status cs = classifier_.classify(input_, in_len, scores_, md.num_classes, &invoke_us);
  r.invoke_us = invoke_us;
  if (cs != Status::kOk) return fail(CycleStatus::kClassifyFailed, classifier_.last_error());
  r.decision = decide(scores_, md.num_classes, config_.decision);
  if (!gates_.pulse(r.decision.bin, config_.gate_hold_ms)) {
    return fail(CycleStatus::kGateFailed, gates_.last_error());
  }
  r.status = CycleStatus::kSorted;
  r.total_us = static_cast<uint32_t>(clock_() - t0);
  return r;
}

}  // namespace sorter
