#include <cstring>

#include "check.h"
#include "sorter/decision.h"

using namespace sorter;

namespace {

const QuantParams kSoftmax{1.0f / 256.0f, -128};

DecisionConfig config(uint8_t classes, int8_t min_score, TiePolicy tie = TiePolicy::kReject) {
  DecisionConfig c{};
  c.num_classes = classes;
  c.num_bins = 4;
  c.reject_bin = 3;
  c.min_score = min_score;
  c.tie_policy = tie;
  for (uint8_t i = 0; i < classes; ++i) c.class_to_bin[i] = static_cast<uint8_t>(i % 3);
  return c;
}

// Smallest q in [-128, 127] whose dequantized value reaches p, by brute force; 127 when none does.
int brute_force_min_score(double p, const QuantParams& qp) {
  for (int q = -128; q <= 127; ++q) {
    if ((q - qp.zero_point) * static_cast<double>(qp.scale) >= p - 1e-9) return q;
  }
  return 127;
}

}  // namespace

TEST(argmax_lowest_index_on_ties) {
  const int8_t s[] = {3, 9, 9, -1};
  CHECK_EQ(argmax(s, 4), 1);
  CHECK_EQ(argmax(s, 0), -1);
  CHECK_EQ(argmax(nullptr, 3), -1);
  const int8_t neg[] = {-128, -128, -127};
  CHECK_EQ(argmax(neg, 3), 2);
  const int8_t one[] = {-5};
  CHECK_EQ(argmax(one, 1), 0);
}

TEST(threshold_conversion_matches_brute_force) {
  const QuantParams others[] = {kSoftmax, {0.1f, 0}, {0.0123f, -5}};
  for (const auto& qp : others) {
    for (uint32_t pct = 0; pct <= 100; ++pct) {
      const int expected = pct == 0 ? -128 : brute_force_min_score(pct / 100.0, qp);
      CHECK_OR_BREAK(percent_to_min_score(pct, qp) == expected);
      CHECK_OR_BREAK(probability_to_min_score(static_cast<float>(pct) / 100.0f, qp) == expected);
    }
  }
  CHECK_EQ(percent_to_min_score(50, kSoftmax), 0);
  CHECK_EQ(percent_to_min_score(0, kSoftmax), -128);
  CHECK_EQ(percent_to_min_score(100, kSoftmax), 127);  // 1.0 is not representable: clamp to the top
  CHECK_EQ(percent_to_min_score(50, QuantParams{0.0f, 0}), 127);
  CHECK(score_to_probability(0, kSoftmax) == 0.5f);
}

TEST(decide_accepts_at_threshold_and_rejects_below) {
  const DecisionConfig c = config(3, 10);
  const int8_t at[] = {-100, 10, -50};
  const Decision a = decide(at, 3, c);
  CHECK(a.reason == DecisionReason::kAccepted);
  CHECK_EQ(a.top_class, 1);
  CHECK_EQ(a.bin, 1);
  CHECK_EQ(a.top_score, 10);
  CHECK_EQ(a.runner_up_score, -50);
  const int8_t below[] = {-100, 9, -50};
  const Decision b = decide(below, 3, c);
  CHECK(b.reason == DecisionReason::kBelowThreshold);
  CHECK_EQ(b.bin, 3);
  CHECK_EQ(b.top_class, 1);  // still reported for the log
}

TEST(decide_tie_policies) {
  const int8_t tie[] = {40, -3, 40};
  const Decision r = decide(tie, 3, config(3, -128, TiePolicy::kReject));
  CHECK(r.reason == DecisionReason::kTie);
  CHECK_EQ(r.bin, 3);
  const Decision l = decide(tie, 3, config(3, -128, TiePolicy::kLowestIndex));
  CHECK(l.reason == DecisionReason::kAccepted);
  CHECK_EQ(l.top_class, 0);
  CHECK_EQ(l.bin, 0);
  // A tie below the threshold is reported as below threshold.
  const Decision t = decide(tie, 3, config(3, 41));
  CHECK(t.reason == DecisionReason::kBelowThreshold);
}

TEST(decide_degenerate_inputs) {
  const Decision none = decide(nullptr, 0, config(3, 0));
  CHECK(none.reason == DecisionReason::kNoScores);
  CHECK_EQ(none.top_class, -1);
  CHECK_EQ(none.bin, 3);
  const int8_t one[] = {-128};
  const Decision single = decide(one, 1, config(1, -128));
  CHECK(single.reason == DecisionReason::kAccepted);
  CHECK_EQ(single.runner_up_score, -128);
  // More scores than configured classes: the top one has no mapping, so it is rejected.
  const int8_t extra[] = {0, 0, 0, 100};
  const Decision e = decide(extra, 4, config(3, -128));
  CHECK_EQ(e.bin, 3);
  CHECK(e.reason != DecisionReason::kAccepted);
  // Extremes of the int8 range.
  const int8_t extremes[] = {127, -128};
  CHECK(decide(extremes, 2, config(2, 127)).reason == DecisionReason::kAccepted);
  CHECK(std::strlen(decision_reason_str(DecisionReason::kTie)) > 0);
}

TEST(bin_map_by_label_and_index) {
  const char* labels[] = {"PET", "HDPE", "PVC", "LDPE"};
  DecisionConfig c = config(0, 0);
  char err[64];
  CHECK(parse_bin_map("PET:0, HDPE : 1,2:2", labels, 4, &c, err, sizeof err) == BinMapStatus::kOk);
  CHECK_EQ(c.num_classes, 4);
  CHECK_EQ(c.class_to_bin[0], 0);
  CHECK_EQ(c.class_to_bin[1], 1);
  CHECK_EQ(c.class_to_bin[2], 2);
  CHECK_EQ(c.class_to_bin[3], 3);  // unnamed: reject bin
  CHECK(parse_bin_map("", labels, 4, &c, err, sizeof err) == BinMapStatus::kOk);
  for (int i = 0; i < 4; ++i) CHECK_EQ(c.class_to_bin[i], i % 4);
}

TEST(bin_map_errors_name_the_entry) {
  const char* labels[] = {"PET", "HDPE"};
  DecisionConfig c = config(0, 0);
  const DecisionConfig before = c;
  char err[64];
  CHECK(parse_bin_map("PET:0,PP:1", labels, 2, &c, err, sizeof err) == BinMapStatus::kUnknownClass);
  CHECK(std::strstr(err, "PP") != nullptr);
  CHECK(parse_bin_map("PET:9", labels, 2, &c, err, sizeof err) == BinMapStatus::kBinOutOfRange);
  CHECK(std::strstr(err, "PET:9") != nullptr);
  CHECK(parse_bin_map("PET:0,0:1", labels, 2, &c, err, sizeof err) == BinMapStatus::kDuplicate);
  const char* syntax[] = {"PET", "PET:", ":1", "PET:x", "PET:0,,HDPE:1", "PET:-1"};
  for (const char* s : syntax) CHECK(parse_bin_map(s, labels, 2, &c, err, sizeof err) == BinMapStatus::kSyntax);
  CHECK(parse_bin_map("2:0", labels, 2, &c, err, sizeof err) == BinMapStatus::kUnknownClass);
  // A failed parse leaves the previous mapping in place.
  CHECK(std::memcmp(c.class_to_bin, before.class_to_bin, sizeof c.class_to_bin) == 0);
  const char* many[kMaxClasses + 1];
  for (auto& l : many) l = "x";
  CHECK(parse_bin_map("", many, kMaxClasses + 1, &c, err, sizeof err) == BinMapStatus::kTooManyClasses);
}

TEST(bad_bin_map_sends_every_class_to_reject) {
  const char* labels[] = {"PET", "HDPE", "PP"};
  DecisionConfig c = config(0, 0);
  c.num_bins = 4;
  c.reject_bin = 3;
  char err[64];
  CHECK(parse_bin_map("PET:0,PS:1", labels, 3, &c, err, sizeof err) == BinMapStatus::kUnknownClass);
  map_all_to_reject(&c, 3);
  CHECK_EQ(c.num_classes, 3);
  for (int i = 0; i < 3; ++i) CHECK_EQ(c.class_to_bin[i], 3);
  // A confident PET still goes to the reject bin, not to bin 0.
  const int8_t pet[] = {120, -128, -128};
  c.min_score = 0;
  const Decision d = decide(pet, 3, c);
  CHECK_EQ(d.top_class, 0);
  CHECK_EQ(d.bin, 3);
}
