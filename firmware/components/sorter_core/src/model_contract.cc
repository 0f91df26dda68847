#include "sorter/model_contract.h"

#include <cstdio>
#include <cstring>

#include "sorter/labels.h"

namespace sorter {

const char* contract_source_str(ContractSource s) {
  switch (s) {
    case ContractSource::kModelMetadata: return "model metadata";
    case ContractSource::kBuiltinHeader: return "built-in model_info.h";
    case ContractSource::kDefault: return "default";
  }
  return "?";
}

bool is_builtin_model(const uint8_t running_sha256[32], const BuiltinModelInfo& builtin) {
  return running_sha256 != nullptr && builtin.sha256 != nullptr && std::memcmp(running_sha256, builtin.sha256, 32) == 0;
}

size_t contract_arena_bytes(const uint8_t running_sha256[32], const BuiltinModelInfo& builtin) {
  return is_builtin_model(running_sha256, builtin) ? builtin.arena_bytes : 0;
}

namespace {

// "class_0", "class_1", ... into storage; returns how many fitted.
size_t numbered_labels(size_t n, char* storage, size_t storage_len, const char** labels) {
  char* w = storage;
  const char* end = storage + storage_len;
  size_t made = 0;
  for (; made < n && made < kMaxClasses; ++made) {
    const int len = std::snprintf(w, static_cast<size_t>(end - w), "class_%u", static_cast<unsigned>(made));
    if (len <= 0 || w + len + 1 > end) break;
    labels[made] = w;
    w += len + 1;
  }
  return made;
}

}  // namespace

void resolve_model_contract(const char* metadata_json, size_t json_len, size_t num_classes,
                            const uint8_t running_sha256[32], const BuiltinModelInfo& builtin, char* storage,
                            size_t storage_len, ModelContract* out) {
  const bool builtin_running = is_builtin_model(running_sha256, builtin);
  const bool has_meta = metadata_json != nullptr && json_len > 0;

  const size_t from_meta =
      has_meta ? parse_labels_json(metadata_json, json_len, storage, storage_len, out->labels, kMaxClasses) : 0;
  if (from_meta > 0 && from_meta == num_classes) {
    out->num_labels = from_meta;
    out->labels_from = ContractSource::kModelMetadata;
  } else if (builtin_running && builtin.num_labels == num_classes) {
    for (size_t i = 0; i < num_classes && i < kMaxClasses; ++i) out->labels[i] = builtin.labels[i];
    out->num_labels = num_classes < kMaxClasses ? num_classes : kMaxClasses;
    out->labels_from = ContractSource::kBuiltinHeader;
  } else {
    out->num_labels = numbered_labels(num_classes, storage, storage_len, out->labels);
    out->labels_from = ContractSource::kDefault;
  }

  char resize[16];
  if (has_meta && parse_json_string_field(metadata_json, json_len, "resize", resize, sizeof resize) &&
      (std::strcmp(resize, "center-crop") == 0 || std::strcmp(resize, "squash") == 0)) {
    out->resize_mode = resize[0] == 'c' ? ResizeMode::kCenterCrop : ResizeMode::kSquash;
    out->resize_from = ContractSource::kModelMetadata;
  } else if (builtin_running) {
    out->resize_mode = builtin.resize_mode;
    out->resize_from = ContractSource::kBuiltinHeader;
  } else {
    out->resize_mode = ResizeMode::kSquash;
    out->resize_from = ContractSource::kDefault;
  }
}

}  // namespace sorter
