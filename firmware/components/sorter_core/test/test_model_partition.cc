#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "sorter/checksum.h"
#include "sorter/model_partition.h"

using namespace sorter;

namespace {

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// Reads "model <hex>" and "header <hex>" from the golden vector file shared with the TypeScript tests.
bool read_vector(std::vector<uint8_t>* model, std::vector<uint8_t>* header) {
  FILE* f = std::fopen(SORTER_CORE_TEST_DIR "/model_partition_vectors.txt", "r");
  if (f == nullptr) return false;
  char line[1024];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    std::string s(line);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (s.rfind("model ", 0) == 0) *model = from_hex(s.substr(6));
    if (s.rfind("header ", 0) == 0) *header = from_hex(s.substr(7));
  }
  std::fclose(f);
  return !model->empty() && header->size() == kModelPartitionHeaderSize;
}

std::vector<uint8_t> blob_for(const std::vector<uint8_t>& model, size_t padding) {
  std::vector<uint8_t> blob(kModelPartitionHeaderSize);
  build_model_partition_header(model.data(), static_cast<uint32_t>(model.size()), blob.data());
  blob.insert(blob.end(), model.begin(), model.end());
  blob.insert(blob.end(), padding, 0xFF);  // the rest of the partition stays erased
  return blob;
}

std::vector<uint8_t> sample_model(size_t n) {
  std::vector<uint8_t> m(n);
  for (size_t i = 0; i < n; ++i) m[i] = static_cast<uint8_t>(i * 31 + 7);
  std::memcpy(m.data() + 4, "TFL3", 4);
  return m;
}

void set_u32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

void reseal(std::vector<uint8_t>& b) { set_u32(b, 60, crc32(b.data(), 60)); }

ModelPartitionStatus parse(const std::vector<uint8_t>& b, bool verify = true) {
  ModelPartitionInfo info;
  return parse_model_partition(b.data(), b.size(), &info, verify);
}

}  // namespace

TEST(golden_vector_builds_and_parses) {
  std::vector<uint8_t> model, header;
  CHECK(read_vector(&model, &header));
  uint8_t built[kModelPartitionHeaderSize];
  build_model_partition_header(model.data(), static_cast<uint32_t>(model.size()), built);
  CHECK(std::memcmp(built, header.data(), kModelPartitionHeaderSize) == 0);
  std::vector<uint8_t> blob = header;
  blob.insert(blob.end(), model.begin(), model.end());
  ModelPartitionInfo info;
  CHECK(parse_model_partition(blob.data(), blob.size(), &info) == ModelPartitionStatus::kOk);
  CHECK_EQ(info.model_length, model.size());
  CHECK_EQ(info.model_offset, 64u);
  CHECK(info.model == blob.data() + 64);
  CHECK_EQ(info.header_version, 1);
}

TEST(valid_blob_inside_a_larger_partition) {
  const auto model = sample_model(5000);
  const auto blob = blob_for(model, 70000);
  ModelPartitionInfo info;
  CHECK(parse_model_partition(blob.data(), blob.size(), &info) == ModelPartitionStatus::kOk);
  uint8_t digest[32];
  Sha256::hash(model.data(), model.size(), digest);
  CHECK(std::memcmp(digest, info.model_sha256, 32) == 0);
  CHECK(std::memcmp(info.model, model.data(), model.size()) == 0);
}

TEST(truncated_blobs) {
  const auto model = sample_model(300);
  const auto blob = blob_for(model, 0);
  for (size_t len = 0; len < blob.size(); ++len) {
    ModelPartitionInfo info;
    const ModelPartitionStatus s = parse_model_partition(blob.data(), len, &info);
    const ModelPartitionStatus want =
        len < kModelPartitionHeaderSize ? ModelPartitionStatus::kTruncatedHeader : ModelPartitionStatus::kTruncatedModel;
    CHECK_OR_BREAK(s == want);
  }
  // A length field near 2^32 must not wrap the bounds check.
  auto huge = blob;
  set_u32(huge, 8, 0xFFFFFFFFu);
  reseal(huge);
  CHECK(parse(huge) == ModelPartitionStatus::kTruncatedModel);
}

TEST(every_header_bit_flip_is_detected) {
  const auto blob = blob_for(sample_model(256), 16);
  for (size_t byte = 0; byte < kModelPartitionHeaderSize; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto b = blob;
      b[byte] ^= static_cast<uint8_t>(1u << bit);
      const ModelPartitionStatus s = parse(b);
      const ModelPartitionStatus want = byte < 4 ? ModelPartitionStatus::kBadMagic : ModelPartitionStatus::kBadHeaderCrc;
      CHECK_OR_BREAK(s == want);
    }
  }
}

TEST(model_corruption_is_a_hash_mismatch) {
  const auto model = sample_model(1024);
  const auto blob = blob_for(model, 0);
  for (size_t i = 64; i < blob.size(); i += 37) {
    auto b = blob;
    b[i] ^= 0x01;
    CHECK_OR_BREAK(parse(b) == ModelPartitionStatus::kHashMismatch);
    CHECK_OR_BREAK(parse(b, false) == (i >= 68 && i < 72 ? ModelPartitionStatus::kNotTflite : ModelPartitionStatus::kOk));
  }
}

TEST(field_checks_behind_a_valid_crc) {
  const auto blob = blob_for(sample_model(128), 0);
  auto v2 = blob;
  v2[4] = 2;
  reseal(v2);
  CHECK(parse(v2) == ModelPartitionStatus::kUnsupportedVersion);
  auto hs = blob;
  hs[6] = 32;
  reseal(hs);
  CHECK(parse(hs) == ModelPartitionStatus::kBadHeaderSize);
  auto zero = blob;
  set_u32(zero, 8, 0);
  reseal(zero);
  CHECK(parse(zero) == ModelPartitionStatus::kBadLength);
  std::vector<uint8_t> not_tflite(128, 0x42);
  CHECK(parse(blob_for(not_tflite, 0)) == ModelPartitionStatus::kNotTflite);
}

TEST(erased_and_null) {
  std::vector<uint8_t> erased(4096, 0xFF);
  CHECK(parse(erased) == ModelPartitionStatus::kErased);
  ModelPartitionInfo info;
  CHECK(parse_model_partition(nullptr, 100, &info) == ModelPartitionStatus::kNullArgument);
  CHECK(parse_model_partition(erased.data(), erased.size(), nullptr) == ModelPartitionStatus::kNullArgument);
  // Every status has its own message.
  for (int a = 0; a <= 11; ++a)
    for (int b = a + 1; b <= 11; ++b)
      CHECK(std::strcmp(model_partition_status_str(static_cast<ModelPartitionStatus>(a)),
                        model_partition_status_str(static_cast<ModelPartitionStatus>(b))) != 0);
}
