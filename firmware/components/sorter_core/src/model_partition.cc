#include "sorter/model_partition.h"

#include <cstring>

#include "sorter/checksum.h"

namespace sorter {

namespace {

uint16_t read_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t read_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
void write_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void write_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

constexpr size_t kCrcOffset = 60;

}  // namespace

const char* model_partition_status_str(ModelPartitionStatus status) {
  switch (status) {
    case ModelPartitionStatus::kOk:
      return "ok";
    case ModelPartitionStatus::kErased:
      return "partition is erased (no model flashed)";
    case ModelPartitionStatus::kTruncatedHeader:
      return "truncated: shorter than the 64-byte header";
    case ModelPartitionStatus::kBadMagic:
      return "corrupt: bad magic (expected \"PSMD\")";
    case ModelPartitionStatus::kUnsupportedVersion:
      return "unsupported header version (this firmware reads version 1)";
    case ModelPartitionStatus::kBadHeaderSize:
      return "corrupt: header size field is not 64";
    case ModelPartitionStatus::kBadHeaderCrc:
      return "corrupt: header CRC-32 mismatch";
    case ModelPartitionStatus::kBadLength:
      return "corrupt: model length is 0";
    case ModelPartitionStatus::kTruncatedModel:
      return "truncated: model length runs past the end of the partition";
    case ModelPartitionStatus::kHashMismatch:
      return "mismatch: model SHA-256 differs from the header";
    case ModelPartitionStatus::kNotTflite:
      return "not a TFLite model (no \"TFL3\" identifier)";
    case ModelPartitionStatus::kNullArgument:
      return "null argument";
  }
  return "unknown model partition status";
}

ModelPartitionStatus parse_model_partition(const uint8_t* data, size_t len, ModelPartitionInfo* info,
                                           bool verify_hash) {
  if (info == nullptr) return ModelPartitionStatus::kNullArgument;
  std::memset(info, 0, sizeof(*info));
  if (data == nullptr) return ModelPartitionStatus::kNullArgument;
  if (len < kModelPartitionHeaderSize) return ModelPartitionStatus::kTruncatedHeader;
  bool erased = true;
  for (size_t i = 0; i < kModelPartitionHeaderSize; ++i) {
    if (data[i] != 0xFF) {
      erased = false;
      break;
    }
  }
  if (erased) return ModelPartitionStatus::kErased;
  if (std::memcmp(data, kModelPartitionMagic, 4) != 0) return ModelPartitionStatus::kBadMagic;
  // The CRC is checked before the fields so that a corrupt version or size reads as corruption.
  if (crc32(data, kCrcOffset) != read_u32(data + kCrcOffset)) return ModelPartitionStatus::kBadHeaderCrc;
  info->header_version = read_u16(data + 4);
  if (info->header_version != kModelPartitionVersion) return ModelPartitionStatus::kUnsupportedVersion;
  const uint16_t header_size = read_u16(data + 6);
  if (header_size != kModelPartitionHeaderSize) return ModelPartitionStatus::kBadHeaderSize;
  info->model_offset = header_size;
  info->model_length = read_u32(data + 8);
  info->flags = read_u32(data + 12);
  std::memcpy(info->model_sha256, data + 16, 32);
  if (info->model_length == 0) return ModelPartitionStatus::kBadLength;
  if (info->model_length > len - kModelPartitionHeaderSize) return ModelPartitionStatus::kTruncatedModel;
  const uint8_t* model = data + kModelPartitionHeaderSize;
  if (verify_hash) {
    uint8_t digest[32];
    Sha256::hash(model, info->model_length, digest);
    if (std::memcmp(digest, info->model_sha256, 32) != 0) return ModelPartitionStatus::kHashMismatch;
  }
  // A flatbuffer's file identifier sits at bytes 4..7.
  if (info->model_length < 8 || std::memcmp(model + 4, "TFL3", 4) != 0) return ModelPartitionStatus::kNotTflite;
  info->model = model;
  return ModelPartitionStatus::kOk;
}

void build_model_partition_header(const uint8_t* model, uint32_t model_len,
                                  uint8_t header[kModelPartitionHeaderSize]) {
  std::memset(header, 0, kModelPartitionHeaderSize);
  std::memcpy(header, kModelPartitionMagic, 4);
  write_u16(header + 4, kModelPartitionVersion);
  write_u16(header + 6, static_cast<uint16_t>(kModelPartitionHeaderSize));
  write_u32(header + 8, model_len);
  write_u32(header + 12, 0);
  Sha256::hash(model, model_len, header + 16);
  write_u32(header + kCrcOffset, crc32(header, kCrcOffset));
}

}  // namespace sorter
