// CRC-32 and SHA-256 without any platform library: CRC-32 for the model partition header and the
// serial link's frames (sorter_link), SHA-256 for the model hash the firmware reports.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sorter {

// CRC-32 as in zlib / IEEE 802.3: reflected polynomial 0xEDB88320, initial value and final XOR
// 0xFFFFFFFF. Chain calls by passing the previous result as `crc` (start with 0).
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t len);
inline uint32_t crc32(const uint8_t* data, size_t len) { return crc32_update(0, data, len); }

class Sha256 {
 public:
  Sha256();
  void update(const uint8_t* data, size_t len);
  void finish(uint8_t digest[32]);
  static void hash(const uint8_t* data, size_t len, uint8_t digest[32]);

 private:
  void block(const uint8_t* p);
  uint32_t state_[8];
  uint64_t total_len_;
  uint8_t buffer_[64];
  size_t buffered_;
};

}  // namespace sorter
