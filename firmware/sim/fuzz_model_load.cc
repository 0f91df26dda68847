// libFuzzer target: arbitrary bytes as a .tflite for the int8 reference engine the simulator serves.
// A hostile model must make load() fail with a reason, never crash; a model that loads is also run
// once (bounded by the fuzzer's input size limit, so shapes stay small).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "int8_engine/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The engine keeps pointers into the model bytes: give it a copy that lives as long as it does.
  std::vector<uint8_t> model(data, data + size);
  int8_engine::EngineClassifier engine;
  engine.set_rounding(size % 2 ? int8_engine::Rounding::kSingle : int8_engine::Rounding::kDouble);
  if (!engine.load(model.data(), model.size())) {
    return engine.last_error()[0] == '\0' ? __builtin_trap(), 0 : 0;
  }
  const sorter::ModelDescription& d = engine.description();
  const size_t in = static_cast<size_t>(d.input_width) * d.input_height * d.input_channels;
  if (in == 0 || in > (1u << 20) || d.num_classes == 0) return 0;
  std::vector<int8_t> input(in, 1);
  std::vector<int8_t> scores(d.num_classes);
  uint32_t us = 0;
  engine.classify(input.data(), input.size(), scores.data(), scores.size(), &us);
  for (size_t i = 0; i < engine.dump_tensor_count(); ++i) {
    const int8_t* t = nullptr;
    size_t n = 0;
    const char* name = nullptr;
    engine.dump_tensor(i, &t, &n, &name);
  }
  return 0;
}
