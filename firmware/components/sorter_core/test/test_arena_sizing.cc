#include <cstddef>
#include <vector>

#include "check.h"
#include "sorter/arena_sizing.h"

using namespace sorter;

namespace {

// A model of ESP-IDF's PSRAM heap as the arena search meets it: one free region; largest_free_block()
// is what a plain malloc fits, and an aligned allocation needs `aligned_overhead` bytes more (TLSF's
// alignment gap), so asking for exactly the largest block fails. The model plans in `model_needs`.
struct FakeHeap : ArenaPlanner {
  size_t free_bytes;
  size_t aligned_overhead;
  size_t model_needs;
  size_t held = 0;
  std::vector<size_t> tries;

  FakeHeap(size_t free, size_t overhead, size_t needs) : free_bytes(free), aligned_overhead(overhead), model_needs(needs) {}

  size_t largest_free_block() const override { return free_bytes - held; }
  ArenaTry try_arena(size_t bytes, size_t* used) override {
    tries.push_back(bytes);
    CHECK(held == 0);  // the search never holds two arenas
    CHECK(bytes % 16 == 0);
    if (bytes + aligned_overhead > free_bytes) return ArenaTry::kNoMemory;
    if (bytes < model_needs) return ArenaTry::kTooSmall;
    held = bytes;
    *used = model_needs;
    return ArenaTry::kOk;
  }
  void release() override { held = 0; }
};

constexpr size_t kMiB = 1024 * 1024;

}  // namespace

TEST(arena_planned_size_used_when_it_plans) {
  FakeHeap heap(8 * kMiB, 40, 300000);
  const ArenaChoice c = choose_arena(heap, 310000, 1024);
  CHECK(c.outcome == ArenaOutcome::kPlanned);
  CHECK_EQ(c.allocated, static_cast<size_t>(310000));
  CHECK_EQ(heap.held, static_cast<size_t>(310000));
  CHECK_EQ(heap.tries.size(), static_cast<size_t>(1));
}

TEST(arena_measured_when_unknown_keeps_only_need_plus_headroom) {
  FakeHeap heap(8 * kMiB, 40, 1234567);
  const ArenaChoice c = choose_arena(heap, 0, 1024);
  CHECK(c.outcome == ArenaOutcome::kMeasured);
  CHECK_EQ(c.needed, static_cast<size_t>(1234567));
  CHECK_EQ(c.allocated, static_cast<size_t>(1234576 + 1024));  // need rounded up to 16, plus headroom
  CHECK_EQ(heap.held, c.allocated);
  // Probing at exactly the largest block would have failed on this heap; the probe starts below it.
  CHECK(heap.tries.front() <= 8 * kMiB - kArenaProbeMargin);
}

TEST(arena_too_small_plan_runs_with_measured_need_not_all_psram) {
  FakeHeap heap(8 * kMiB, 40, 500000);
  const ArenaChoice c = choose_arena(heap, 400000, 1024);
  CHECK(c.outcome == ArenaOutcome::kPlannedTooSmall);
  CHECK_EQ(c.needed, static_cast<size_t>(500000));
  CHECK_EQ(c.allocated, static_cast<size_t>(500000 + 1024));
  CHECK_EQ(heap.held, c.allocated);
  CHECK(heap.largest_free_block() > 7 * kMiB);  // the camera's frames and the input still fit
}

TEST(arena_probe_steps_down_when_the_heap_wants_more_than_the_margin) {
  FakeHeap heap(8 * kMiB, 3 * kArenaProbeMargin, 700000);
  const ArenaChoice c = choose_arena(heap, 0, 1024);
  CHECK(c.outcome == ArenaOutcome::kMeasured);
  CHECK(heap.tries.size() >= 3);  // at least one failed probe, the successful one, the re-allocation
  CHECK_EQ(heap.held, c.allocated);
}

TEST(arena_model_bigger_than_psram) {
  FakeHeap heap(2 * kMiB, 40, 3 * kMiB);
  const ArenaChoice c = choose_arena(heap, 0, 1024);
  CHECK(c.outcome == ArenaOutcome::kModelTooBig);
  CHECK_EQ(c.allocated, static_cast<size_t>(0));
  CHECK_EQ(heap.held, static_cast<size_t>(0));
  CHECK(c.probed > 0 && c.probed < 2 * kMiB);
}

TEST(arena_no_memory_at_all) {
  FakeHeap heap(2048, 40, 1000);
  const ArenaChoice c = choose_arena(heap, 0, 1024);
  CHECK(c.outcome == ArenaOutcome::kNoMemory);
  CHECK_EQ(heap.held, static_cast<size_t>(0));
}

TEST(arena_headroom_that_does_not_fit_falls_back_to_the_probe_size) {
  // The need is just under what the probe could get, so need + headroom no longer fits.
  FakeHeap heap(1 * kMiB, 40, 1 * kMiB - kArenaProbeMargin - 16);
  const ArenaChoice c = choose_arena(heap, 0, 64 * 1024);
  CHECK(c.outcome == ArenaOutcome::kMeasured);
  CHECK_EQ(c.allocated, c.probed);
  CHECK_EQ(heap.held, c.allocated);
}

TEST(arena_outcome_names) {
  CHECK(std::string(arena_outcome_str(ArenaOutcome::kPlannedTooSmall)) == "planned size too small");
  CHECK(std::string(arena_outcome_str(ArenaOutcome::kModelTooBig)) == "model too big");
}
