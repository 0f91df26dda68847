// libFuzzer entry point for the int8 engine's model parser: every input is loaded as a .tflite with
// all three arithmetic variants; when it loads, one inference runs on a zero input and every dump tensor is
// read. Built by `npm run fuzz` (target fuzz_int8_model, clang, -fsanitize=fuzzer,address,undefined);
// fuzz/replay_main.cc replays corpus files through the same function in the normal (gcc) build.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "int8_engine/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (const int8_engine::Rounding variant :
       {int8_engine::Rounding::kDouble, int8_engine::Rounding::kSingle, int8_engine::Rounding::kXnnpack}) {
    int8_engine::EngineClassifier engine;
    engine.set_rounding(variant);
    if (!engine.load(data, size)) continue;
    std::vector<uint8_t> input(engine.input_bytes(), 0);
    if (engine.invoke(input.data(), input.size()) != sorter::Status::kOk) continue;
    volatile uint32_t sink = 0;
    for (size_t i = 0; i < engine.dump_tensor_count(); ++i) {
      const int8_t* d = nullptr;
      size_t n = 0;
      const char* name = nullptr;
      if (engine.dump_tensor(i, &d, &n, &name) == sorter::Status::kOk && n > 0) {
        sink = sink + static_cast<uint8_t>(d[0]) + static_cast<uint8_t>(d[n - 1]) + static_cast<uint8_t>(name[0]);
      }
    }
    (void)sink;
  }
  return 0;
}
