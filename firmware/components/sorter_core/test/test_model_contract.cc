#include <cstring>
#include <string>

#include "check.h"
#include "sorter/labels.h"
#include "sorter/model_contract.h"

using namespace sorter;

namespace {

const uint8_t kBuiltinSha[32] = {1, 2, 3};
const uint8_t kOtherSha[32] = {9, 9, 9};
const char* const kBuiltinLabels[] = {"cup", "bag", "jug"};
// The built-in model squashes; the models below are the ones a technician flashes later.
const BuiltinModelInfo kBuiltin = {kBuiltinSha, kBuiltinLabels, 3, ResizeMode::kSquash, 689632};

ModelContract resolve(const std::string& json, size_t classes, const uint8_t* sha) {
  static char storage[256];
  ModelContract c = {};
  resolve_model_contract(json.empty() ? nullptr : json.data(), json.size(), classes, sha, kBuiltin, storage,
                         sizeof storage, &c);
  return c;
}

}  // namespace

TEST(contract_partition_model_centre_crop_from_its_metadata) {
  const std::string meta =
      "{\"schema\":\"plastisort.model/1\",\"labels\":[\"PET\",\"HDPE\",\"PP\",\"PS\"],\"inputSize\":96,"
      "\"inputContract\":\"rgb888_minus_128\",\"resize\":\"center-crop\"}";
  const ModelContract c = resolve(meta, 4, kOtherSha);
  CHECK(c.resize_mode == ResizeMode::kCenterCrop);
  CHECK(c.resize_from == ContractSource::kModelMetadata);
  CHECK_EQ(c.num_labels, 4u);
  CHECK(std::strcmp(c.labels[3], "PS") == 0);
  CHECK(c.labels_from == ContractSource::kModelMetadata);
  CHECK_EQ(contract_arena_bytes(kOtherSha, kBuiltin), 0u);  // measured on the device, not the built-in size
}

TEST(contract_builtin_header_only_for_the_builtin_model) {
  // Same class count as the built-in model but another model without metadata: the built-in labels
  // and resize mode would be guesses, so numbered labels and squash, marked as defaults.
  const ModelContract other = resolve("", 3, kOtherSha);
  CHECK(other.labels_from == ContractSource::kDefault);
  CHECK(std::strcmp(other.labels[0], "class_0") == 0);
  CHECK(other.resize_from == ContractSource::kDefault);
  // The built-in model itself without metadata: model_info.h is its description.
  const ModelContract builtin = resolve("", 3, kBuiltinSha);
  CHECK(builtin.labels_from == ContractSource::kBuiltinHeader);
  CHECK(std::strcmp(builtin.labels[1], "bag") == 0);
  CHECK(builtin.resize_from == ContractSource::kBuiltinHeader);
  CHECK_EQ(contract_arena_bytes(kBuiltinSha, kBuiltin), 689632u);
}

TEST(contract_metadata_wins_over_builtin_header_even_for_the_builtin_model) {
  const ModelContract c = resolve("{\"labels\":[\"a\",\"b\",\"c\"],\"resize\":\"center-crop\"}", 3, kBuiltinSha);
  CHECK(c.resize_mode == ResizeMode::kCenterCrop);
  CHECK(std::strcmp(c.labels[2], "c") == 0);
}

TEST(contract_label_count_mismatch_or_unknown_resize_is_not_trusted) {
  const ModelContract c = resolve("{\"labels\":[\"a\",\"b\"],\"resize\":\"letterbox\"}", 5, kOtherSha);
  CHECK(c.labels_from == ContractSource::kDefault);
  CHECK_EQ(c.num_labels, 5u);
  CHECK(std::strcmp(c.labels[4], "class_4") == 0);
  CHECK(c.resize_from == ContractSource::kDefault);
  CHECK(c.resize_mode == ResizeMode::kSquash);
}

TEST(json_string_field_reads_top_level_strings_only) {
  const std::string json = "{\"nested\":{\"resize\":\"squash\"},\"resize\":\"center-crop\",\"n\":1}";
  char out[16];
  CHECK(parse_json_string_field(json.data(), json.size(), "resize", out, sizeof out));
  CHECK(std::strcmp(out, "center-crop") == 0);
  CHECK(!parse_json_string_field(json.data(), json.size(), "n", out, sizeof out));
  CHECK(!parse_json_string_field(json.data(), json.size(), "missing", out, sizeof out));
  char tiny[4];
  CHECK(!parse_json_string_field(json.data(), json.size(), "resize", tiny, sizeof tiny));
}
