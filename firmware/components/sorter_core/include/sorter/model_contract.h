// One model contract: everything model-specific the firmware uses (labels, resize mode, arena size)
// comes from the model it is running. The compiled-in model_info.h describes only the built-in
// model, so its values are used only while that model runs (recognised by SHA-256), never for a
// model flashed into the `model` partition.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sorter/decision.h"
#include "sorter/preprocess.h"

namespace sorter {

// What model_info.h says about the built-in model.
struct BuiltinModelInfo {
  const uint8_t* sha256;  // 32 bytes
  const char* const* labels;
  size_t num_labels;
  ResizeMode resize_mode;
  size_t arena_bytes;
};

enum class ContractSource : uint8_t {
  kModelMetadata = 0,  // the running model's `plastisort` metadata
  kBuiltinHeader = 1,  // model_info.h, because the running model is the built-in one
  kDefault = 2,        // neither: numbered labels, squash (logged as a warning)
};

const char* contract_source_str(ContractSource s);

struct ModelContract {
  const char* labels[kMaxClasses];
  size_t num_labels;
  ContractSource labels_from;
  ResizeMode resize_mode;
  ContractSource resize_from;
};

bool is_builtin_model(const uint8_t running_sha256[32], const BuiltinModelInfo& builtin);

// The arena to plan for a model before loading it: the built-in size for the built-in model, else 0
// (unknown: the caller measures it with TFLM, see TflmClassifier::load).
size_t contract_arena_bytes(const uint8_t running_sha256[32], const BuiltinModelInfo& builtin);

// metadata_json: the running model's `plastisort` metadata (null or empty when it has none).
// num_classes: the running model's output size. Label strings are copied into storage.
void resolve_model_contract(const char* metadata_json, size_t json_len, size_t num_classes,
                            const uint8_t running_sha256[32], const BuiltinModelInfo& builtin, char* storage,
                            size_t storage_len, ModelContract* out);

}  // namespace sorter
