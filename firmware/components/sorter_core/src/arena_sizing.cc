#include "sorter/arena_sizing.h"

namespace sorter {

namespace {
size_t align_down16(size_t n) { return n & ~static_cast<size_t>(15); }
size_t align_up16(size_t n) { return (n + 15) & ~static_cast<size_t>(15); }
}  // namespace

ArenaChoice choose_arena(ArenaPlanner& planner, size_t planned, size_t headroom) {
  size_t used = 0;
  if (planned > 0 && planner.try_arena(align_up16(planned), &used) == ArenaTry::kOk) {
    return ArenaChoice{ArenaOutcome::kPlanned, align_up16(planned), 0, 0};
  }

  const size_t largest = planner.largest_free_block();
  size_t probe = largest > kArenaProbeMargin ? align_down16(largest - kArenaProbeMargin) : 0;
  size_t probed = 0;
  bool measured = false;
  for (int attempt = 0; attempt < kArenaProbeAttempts && probe > 0; ++attempt) {
    if (probed == 0) probed = probe;
    const ArenaTry r = planner.try_arena(probe, &used);
    if (r == ArenaTry::kOk) {
      measured = true;
      break;
    }
    if (r == ArenaTry::kTooSmall) return ArenaChoice{ArenaOutcome::kModelTooBig, 0, 0, probed};
    const size_t step = probe / 16 > kArenaProbeMargin ? probe / 16 : kArenaProbeMargin;
    probe = probe > step ? align_down16(probe - step) : 0;
  }
  if (!measured) return ArenaChoice{ArenaOutcome::kNoMemory, 0, 0, probed};

  // The plan is deterministic for a model, so the re-allocation needs what the probe used.
  planner.release();
  const size_t want = align_up16(used) + align_up16(headroom);
  const ArenaOutcome ok = planned > 0 ? ArenaOutcome::kPlannedTooSmall : ArenaOutcome::kMeasured;
  size_t again = 0;
  if (planner.try_arena(want, &again) == ArenaTry::kOk) return ArenaChoice{ok, want, used, probed};
  // The headroom did not fit beside what the probe left: keep the probe's size, which planned.
  if (planner.try_arena(probe, &again) == ArenaTry::kOk) return ArenaChoice{ok, probe, used, probed};
  return ArenaChoice{ArenaOutcome::kNoMemory, 0, used, probed};
}

const char* arena_outcome_str(ArenaOutcome o) {
  switch (o) {
    case ArenaOutcome::kPlanned:
      return "planned";
    case ArenaOutcome::kMeasured:
      return "measured";
    case ArenaOutcome::kPlannedTooSmall:
      return "planned size too small";
    case ArenaOutcome::kNoMemory:
      return "no memory";
    case ArenaOutcome::kModelTooBig:
      return "model too big";
  }
  return "?";
}

}  // namespace sorter
