#include "model_store.h"

#include <cstdio>
#include <cstring>

#include "esp_log.h"
#include "esp_partition.h"
#include "model_data.h"
#include "model_info.h"
#include "sorter/model_partition.h"

static const char* TAG = "model";

bool load_partition_model(ModelSource* out) {
  const esp_partition_t* part = esp_partition_find_first(
      ESP_PARTITION_TYPE_DATA, static_cast<esp_partition_subtype_t>(sorter::kModelPartitionSubtype), "model");
  if (part == nullptr) {
    std::snprintf(out->partition_reason, sizeof out->partition_reason,
                  "no data partition \"model\" (subtype 0x%02x) in the partition table", sorter::kModelPartitionSubtype);
    return false;
  }
  // Read the header first: an erased or foreign partition is rejected without mapping megabytes.
  uint8_t header[sorter::kModelPartitionHeaderSize];
  esp_err_t err = esp_partition_read(part, 0, header, sizeof header);
  if (err != ESP_OK) {
    std::snprintf(out->partition_reason, sizeof out->partition_reason, "reading the header failed: %s", esp_err_to_name(err));
    return false;
  }
  sorter::ModelPartitionInfo info;
  sorter::ModelPartitionStatus st = sorter::parse_model_partition(header, sizeof header, &info, false);
  if (st != sorter::ModelPartitionStatus::kOk && st != sorter::ModelPartitionStatus::kTruncatedModel) {
    std::snprintf(out->partition_reason, sizeof out->partition_reason, "%s", sorter::model_partition_status_str(st));
    return false;
  }
  const void* mapped = nullptr;
  esp_partition_mmap_handle_t handle;
  err = esp_partition_mmap(part, 0, part->size, ESP_PARTITION_MMAP_DATA, &mapped, &handle);
  if (err != ESP_OK) {
    std::snprintf(out->partition_reason, sizeof out->partition_reason, "mapping %u bytes failed: %s",
                  static_cast<unsigned>(part->size), esp_err_to_name(err));
    return false;
  }
  const int64_t t0 = esp_log_timestamp();
  st = sorter::parse_model_partition(static_cast<const uint8_t*>(mapped), part->size, &info, true);
  if (st != sorter::ModelPartitionStatus::kOk) {
    std::snprintf(out->partition_reason, sizeof out->partition_reason, "%s", sorter::model_partition_status_str(st));
    esp_partition_munmap(handle);
    return false;
  }
  ESP_LOGI(TAG, "model partition verified (%u bytes, SHA-256 in %u ms)", static_cast<unsigned>(info.model_length),
           static_cast<unsigned>(esp_log_timestamp() - t0));
  out->data = info.model;
  out->len = info.model_length;
  std::memcpy(out->sha256, info.model_sha256, 32);
  out->from_partition = true;
  out->partition_reason[0] = '\0';
  return true;
}

ModelSource builtin_model() {
  ModelSource m;
  m.data = g_model_data;
  m.len = g_model_data_len;
  std::memcpy(m.sha256, plastisort_model::kModelSha256, 32);
  m.from_partition = false;
  return m;
}
