// From the classifier's int8 scores to a bin: argmax, confidence threshold, tie policy, class -> bin
// mapping and a reject bin for everything the model is not sure about.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sorter/classifier.h"

namespace sorter {

constexpr size_t kMaxClasses = 32;
constexpr uint8_t kMaxBins = 16;

enum class TiePolicy : uint8_t {
  kReject = 0,        // two classes sharing the top score go to the reject bin
  kLowestIndex = 1,   // the lower class index wins (what TFLite's ARG_MAX does)
};

struct DecisionConfig {
  uint8_t num_classes;
  uint8_t num_bins;                     // gates 0 .. num_bins-1
  uint8_t class_to_bin[kMaxClasses];
  uint8_t reject_bin;
  int8_t min_score;                     // a top score below this is rejected (int8 output scale)
  TiePolicy tie_policy;
};

enum class DecisionReason : uint8_t {
  kAccepted = 0,
  kBelowThreshold = 1,
  kTie = 2,
  kNoScores = 3,
};

const char* decision_reason_str(DecisionReason reason);

struct Decision {
  int16_t top_class;      // -1 when there are no scores
  int8_t top_score;
  int8_t runner_up_score; // -128 when there is only one class
  uint8_t bin;
  DecisionReason reason;
};

// Index of the largest score; the lowest index among equal maxima. -1 for an empty array.
int argmax(const int8_t* scores, size_t n);

// The int8 score that corresponds to a probability threshold: the smallest q with
// (q - zero_point) * scale >= probability, clamped to [-128, 127]. For a softmax output with scale
// 1/256 and zero point -128, 50% maps to 0 and 0% to -128 (accept everything).
int8_t probability_to_min_score(float probability, const QuantParams& output_quant);
// Same from a whole percentage (Kconfig has no floats), computed without rounding error.
int8_t percent_to_min_score(uint32_t percent, const QuantParams& output_quant);

// Probability of an int8 score, for logs.
float score_to_probability(int8_t score, const QuantParams& output_quant);

Decision decide(const int8_t* scores, size_t n, const DecisionConfig& config);

enum class BinMapStatus : uint8_t {
  kOk = 0,
  kSyntax = 1,          // not "key:bin[,key:bin...]"
  kUnknownClass = 2,    // key neither a label nor a class index
  kBinOutOfRange = 3,   // bin >= num_bins
  kDuplicate = 4,       // a class mapped twice
  kTooManyClasses = 5,
};

// Fills config->class_to_bin from a spec such as "PET:0,HDPE:1,3:2" (label or class index, colon,
// bin). Classes the spec does not name go to config->reject_bin. An empty spec maps class i to bin
// i % num_bins. On error, err (if not null) receives a short message naming the offending entry.
BinMapStatus parse_bin_map(const char* spec, const char* const* labels, size_t num_labels,
                           DecisionConfig* config, char* err, size_t err_len);

// What a bin does when its configured map cannot be used (it names a class the model lacks, ...):
// every class to the reject bin, so no item lands in another material's bin.
void map_all_to_reject(DecisionConfig* config, size_t num_labels);

}  // namespace sorter
