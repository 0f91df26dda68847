#include "sorter_link/crc32.h"

namespace sorter_link {
namespace {

struct Table {
  uint32_t v[256];
  constexpr Table() : v() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
      v[i] = c;
    }
  }
};
constexpr Table kTable;

}  // namespace

uint32_t crc32_update(uint32_t state, const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; ++i) state = kTable.v[(state ^ data[i]) & 0xFFu] ^ (state >> 8);
  return state;
}

}  // namespace sorter_link
