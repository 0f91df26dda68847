// How big a tensor arena to keep. The planned size (model_info.h) when the model plans in it; else the
// model is planned once in nearly all free memory, and the arena is re-allocated at what that plan
// used plus headroom, so the rest of PSRAM stays free for the camera's frames and the input tensor.
// Portable: the heap and TFLM's planner come in through ArenaPlanner, so host tests can drive it with
// a model of ESP-IDF's heap.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sorter {

enum class ArenaTry : uint8_t {
  kOk,        // allocated and planned; the arena is kept
  kNoMemory,  // the allocation failed
  kTooSmall,  // allocated, but the model does not plan in it; nothing is kept
};

class ArenaPlanner {
 public:
  virtual ~ArenaPlanner() = default;
  // The largest block a plain malloc could get now.
  virtual size_t largest_free_block() const = 0;
  // Allocates `bytes` (a multiple of 16) and plans the model in it. On kOk the arena is kept and
  // *used is how much of it the plan took.
  virtual ArenaTry try_arena(size_t bytes, size_t* used) = 0;
  // Frees the arena a kOk try kept.
  virtual void release() = 0;
};

enum class ArenaOutcome : uint8_t {
  kPlanned,          // the planned size worked
  kMeasured,         // no planned size; measured
  kPlannedTooSmall,  // the planned size failed; running with the measured need (see `needed`)
  kNoMemory,         // not even a probe could be allocated
  kModelTooBig,      // the model does not plan in the largest arena there is
};

struct ArenaChoice {
  ArenaOutcome outcome;
  size_t allocated;  // bytes of the arena kept; 0 when none is
  size_t needed;     // bytes the plan used in the probe; 0 when no probe planned it
  size_t probed;     // the largest probe size tried; 0 when none was
};

// A 16-byte-aligned allocation needs more than the largest block a plain malloc fits (ESP-IDF's TLSF
// heap reports that figure; heap_caps_aligned_alloc asks for alignment and a gap on top), so probes
// start this far below it and step down on failure.
constexpr size_t kArenaProbeMargin = 4096;
constexpr int kArenaProbeAttempts = 4;

// planned: bytes from the generated model_info.h, 0 when unknown. headroom: added to a measured need.
ArenaChoice choose_arena(ArenaPlanner& planner, size_t planned, size_t headroom);

const char* arena_outcome_str(ArenaOutcome o);

}  // namespace sorter
