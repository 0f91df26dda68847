#include "sorter/decision.h"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace sorter {

const char* decision_reason_str(DecisionReason reason) {
  switch (reason) {
    case DecisionReason::kAccepted:
      return "accepted";
    case DecisionReason::kBelowThreshold:
      return "below confidence threshold";
    case DecisionReason::kTie:
      return "tie between top classes";
    case DecisionReason::kNoScores:
      return "no scores";
  }
  return "unknown";
}

int argmax(const int8_t* scores, size_t n) {
  if (scores == nullptr || n == 0) return -1;
  size_t best = 0;
  for (size_t i = 1; i < n; ++i) {
    if (scores[i] > scores[best]) best = i;
  }
  return static_cast<int>(best);
}

static int8_t clamp_int8(double v) {
  if (v < -128.0) return -128;
  if (v > 127.0) return 127;
  return static_cast<int8_t>(v);
}

int8_t probability_to_min_score(float probability, const QuantParams& output_quant) {
  if (!(output_quant.scale > 0.0f)) return 127;
  if (probability <= 0.0f) return -128;
  // The tolerance keeps exact ratios (50% at scale 1/256 is exactly 128 steps) from rounding up.
  const double steps = std::ceil(static_cast<double>(probability) / output_quant.scale - 1e-6);
  return clamp_int8(steps + output_quant.zero_point);
}

int8_t percent_to_min_score(uint32_t percent, const QuantParams& output_quant) {
  if (!(output_quant.scale > 0.0f)) return 127;
  if (percent == 0) return -128;
  const double steps = std::ceil(static_cast<double>(percent) / (100.0 * output_quant.scale) - 1e-6);
  return clamp_int8(steps + output_quant.zero_point);
}

float score_to_probability(int8_t score, const QuantParams& output_quant) {
  return (static_cast<float>(score) - static_cast<float>(output_quant.zero_point)) * output_quant.scale;
}

Decision decide(const int8_t* scores, size_t n, const DecisionConfig& config) {
  Decision d{-1, -128, -128, config.reject_bin, DecisionReason::kNoScores};
  const int top = argmax(scores, n);
  if (top < 0) return d;
  d.top_class = static_cast<int16_t>(top);
  d.top_score = scores[top];
  bool tie = false;
  bool have_runner_up = false;
  for (size_t i = 0; i < n; ++i) {
    if (static_cast<int>(i) == top) continue;
    if (!have_runner_up || scores[i] > d.runner_up_score) {
      d.runner_up_score = scores[i];
      have_runner_up = true;
    }
    if (scores[i] == d.top_score) tie = true;
  }
  if (d.top_score < config.min_score) {
    d.reason = DecisionReason::kBelowThreshold;
    return d;
  }
  if (tie && config.tie_policy == TiePolicy::kReject) {
    d.reason = DecisionReason::kTie;
    return d;
  }
  if (static_cast<size_t>(top) >= kMaxClasses || top >= config.num_classes) {
    // More scores than configured classes: the model and the configuration disagree; reject.
    d.reason = DecisionReason::kNoScores;
    return d;
  }
  d.bin = config.class_to_bin[top];
  d.reason = DecisionReason::kAccepted;
  return d;
}

namespace {

void set_err(char* err, size_t err_len, const char* what, const char* entry, size_t entry_len) {
  if (err == nullptr || err_len == 0) return;
  std::snprintf(err, err_len, "%s: \"%.*s\"", what, static_cast<int>(entry_len), entry);
}

bool parse_uint(const char* s, size_t len, uint32_t* out) {
  if (len == 0 || len > 9) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < len; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<uint32_t>(s[i] - '0');
  }
  *out = v;
  return true;
}

void trim(const char** s, size_t* len) {
  while (*len > 0 && (**s == ' ' || **s == '\t')) {
    ++*s;
    --*len;
  }
  while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) --*len;
}

}  // namespace

BinMapStatus parse_bin_map(const char* spec, const char* const* labels, size_t num_labels,
                           DecisionConfig* config, char* err, size_t err_len) {
  if (err != nullptr && err_len > 0) err[0] = '\0';
  if (num_labels > kMaxClasses) {
    set_err(err, err_len, "more classes than supported", "", 0);
    return BinMapStatus::kTooManyClasses;
  }
  config->num_classes = static_cast<uint8_t>(num_labels);
  const uint8_t bins = config->num_bins ? config->num_bins : 1;
  if (spec == nullptr || spec[0] == '\0') {
    for (size_t i = 0; i < num_labels; ++i) config->class_to_bin[i] = static_cast<uint8_t>(i % bins);
    return BinMapStatus::kOk;
  }
  bool mapped[kMaxClasses] = {};
  uint8_t result[kMaxClasses];
  for (size_t i = 0; i < kMaxClasses; ++i) result[i] = config->reject_bin;

  const char* p = spec;
  while (true) {
    const char* end = std::strchr(p, ',');
    size_t len = end ? static_cast<size_t>(end - p) : std::strlen(p);
    const char* entry = p;
    size_t entry_len = len;
    trim(&entry, &entry_len);
    const char* colon = static_cast<const char*>(std::memchr(entry, ':', entry_len));
    if (entry_len == 0 || colon == nullptr) {
      set_err(err, err_len, "expected class:bin", entry, entry_len);
      return BinMapStatus::kSyntax;
    }
    const char* key = entry;
    size_t key_len = static_cast<size_t>(colon - entry);
    const char* val = colon + 1;
    size_t val_len = entry_len - key_len - 1;
    trim(&key, &key_len);
    trim(&val, &val_len);
    uint32_t bin = 0;
    if (key_len == 0 || !parse_uint(val, val_len, &bin)) {
      set_err(err, err_len, "expected class:bin", entry, entry_len);
      return BinMapStatus::kSyntax;
    }
    int cls = -1;
    for (size_t i = 0; i < num_labels; ++i) {
      if (labels != nullptr && labels[i] != nullptr && std::strlen(labels[i]) == key_len &&
          std::memcmp(labels[i], key, key_len) == 0) {
        cls = static_cast<int>(i);
        break;
      }
    }
    uint32_t index = 0;
    if (cls < 0 && parse_uint(key, key_len, &index) && index < num_labels) cls = static_cast<int>(index);
    if (cls < 0) {
      set_err(err, err_len, "unknown class", key, key_len);
      return BinMapStatus::kUnknownClass;
    }
    if (bin >= bins) {
      set_err(err, err_len, "bin out of range", entry, entry_len);
      return BinMapStatus::kBinOutOfRange;
    }
    if (mapped[cls]) {
      set_err(err, err_len, "class mapped twice", key, key_len);
      return BinMapStatus::kDuplicate;
    }
    mapped[cls] = true;
    result[cls] = static_cast<uint8_t>(bin);
    if (end == nullptr) break;
    p = end + 1;
  }
  for (size_t i = 0; i < kMaxClasses; ++i) config->class_to_bin[i] = result[i];
  return BinMapStatus::kOk;
}

void map_all_to_reject(DecisionConfig* config, size_t num_labels) {
  config->num_classes = static_cast<uint8_t>(num_labels < kMaxClasses ? num_labels : kMaxClasses);
  for (size_t i = 0; i < kMaxClasses; ++i) config->class_to_bin[i] = config->reject_bin;
}

}  // namespace sorter
