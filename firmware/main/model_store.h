// Which model the device runs: a valid one in the `model` partition (header and SHA-256 checked by
// sorter::parse_model_partition), else the array built into the app.
#pragma once

#include <cstddef>
#include <cstdint>

struct ModelSource {
  const uint8_t* data = nullptr;
  size_t len = 0;
  uint8_t sha256[32] = {};
  bool from_partition = false;
  // Why the partition was not used (empty when it was).
  char partition_reason[128] = "";
};

// Maps and verifies the `model` partition. On success the mapping stays for the life of the app.
bool load_partition_model(ModelSource* out);
// The built-in array and the SHA-256 recorded in model_info.h.
ModelSource builtin_model();
