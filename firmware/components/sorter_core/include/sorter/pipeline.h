// One sorting cycle, independent of the platform: capture -> preprocess -> classify -> decide ->
// gate pulse. The device's camera task calls run_once() per trigger; tests drive it with fakes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sorter/camera.h"
#include "sorter/classifier.h"
#include "sorter/decision.h"
#include "sorter/gates.h"
#include "sorter/preprocess.h"

namespace sorter {

enum class CycleStatus : uint8_t {
  kSorted = 0,           // a decision was made and the gate pulsed
  kCameraFailed = 1,
  kPreprocessFailed = 2,
  kClassifierNotReady = 3,
  kClassifyFailed = 4,
  kGateFailed = 5,
  kBufferTooSmall = 6,
};

const char* cycle_status_str(CycleStatus status);

struct CycleResult {
  CycleStatus status;
  Decision decision;
  uint32_t preprocess_us;
  uint32_t invoke_us;
  uint32_t total_us;
  const char* error;     // reason when status != kSorted (never null)
};

struct PipelineConfig {
  ResizeMode resize_mode;
  DecisionConfig decision;
  uint32_t gate_hold_ms;
};

using MicrosClock = uint64_t (*)();

class SortingPipeline {
 public:
  // input/scores: caller-owned buffers (input in PSRAM on the device) of the model's sizes.
  SortingPipeline(Camera& camera, Classifier& classifier, Gates& gates, const PipelineConfig& config,
                  int8_t* input, size_t input_len, int8_t* scores, size_t scores_len,
                  MicrosClock clock);
  CycleResult run_once();
  const int8_t* scores() const { return scores_; }

 private:
  Camera& camera_;
  Classifier& classifier_;
  Gates& gates_;
  PipelineConfig config_;
  int8_t* input_;
  size_t input_len_;
  int8_t* scores_;
  size_t scores_len_;
  MicrosClock clock_;
};

}  // namespace sorter
