// The header in front of a model stored in the `model` flash partition. The flasher (TypeScript,
// `plastisort flash --model`) writes it, the firmware checks it at boot and falls back to the
// built-in model when anything is wrong. Byte layout (all integers little-endian), also in
// docs/firmware.md:
//
//   offset size field
//   0      4    magic "PSMD" (0x50 0x53 0x4D 0x44)
//   4      2    header version, 1
//   6      2    header size in bytes, 64; the model starts at this offset
//   8      4    model length in bytes (> 0)
//   12     4    flags, 0 (reserved)
//   16     32   SHA-256 of the model bytes
//   48     12   reserved, zero
//   60     4    CRC-32 (IEEE 802.3 / zlib) of bytes 0..59
#pragma once

#include <cstddef>
#include <cstdint>

namespace sorter {

constexpr uint8_t kModelPartitionMagic[4] = {'P', 'S', 'M', 'D'};
constexpr uint16_t kModelPartitionVersion = 1;
constexpr size_t kModelPartitionHeaderSize = 64;
// ESP-IDF partition subtype of the `model` data partition (data, custom subtype range 0x40-0xFE).
constexpr uint8_t kModelPartitionSubtype = 0x40;

enum class ModelPartitionStatus : uint8_t {
  kOk = 0,
  kErased = 1,              // the header bytes are all 0xFF: nothing was ever flashed
  kTruncatedHeader = 2,     // fewer than 64 bytes
  kBadMagic = 3,
  kUnsupportedVersion = 4,
  kBadHeaderSize = 5,
  kBadHeaderCrc = 6,        // the header is corrupt
  kBadLength = 7,           // model length 0
  kTruncatedModel = 8,      // header + model length exceed the partition/blob
  kHashMismatch = 9,        // the model bytes are corrupt or not the model the header names
  kNotTflite = 10,          // the model does not carry the TFLite file identifier "TFL3"
  kNullArgument = 11,
};

const char* model_partition_status_str(ModelPartitionStatus status);

struct ModelPartitionInfo {
  uint16_t header_version;
  uint32_t model_offset;  // from the start of the blob
  uint32_t model_length;
  uint32_t flags;
  uint8_t model_sha256[32];
  const uint8_t* model;   // data + model_offset, valid when the status is kOk
};

// Checks the header and, when verify_hash is true, the model's SHA-256 and TFLite identifier.
// `len` is the number of readable bytes at `data` (the partition size, or a blob's size). Never
// reads outside [data, data + len). On any status but kOk, *info holds what could be parsed.
ModelPartitionStatus parse_model_partition(const uint8_t* data, size_t len, ModelPartitionInfo* info,
                                           bool verify_hash = true);

// Writes the 64-byte header for `model`; used by tests and the simulator (the flasher has its own
// TypeScript writer, checked against the same golden vector).
void build_model_partition_header(const uint8_t* model, uint32_t model_len,
                                  uint8_t header[kModelPartitionHeaderSize]);

}  // namespace sorter
