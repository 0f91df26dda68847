#pragma once

#include <cstddef>
#include <cstdint>

namespace sorter_link {

// CRC-32/IEEE 802.3 (reflected, polynomial 0xEDB88320, init and final xor 0xFFFFFFFF); "123456789"
// gives 0xCBF43926. Feed `state` from crc32_init() through crc32_update() and finish with crc32_final().
inline uint32_t crc32_init() { return 0xFFFFFFFFu; }
uint32_t crc32_update(uint32_t state, const uint8_t* data, size_t len);
inline uint32_t crc32_final(uint32_t state) { return state ^ 0xFFFFFFFFu; }
inline uint32_t crc32(const uint8_t* data, size_t len) {
  return crc32_final(crc32_update(crc32_init(), data, len));
}

}  // namespace sorter_link
