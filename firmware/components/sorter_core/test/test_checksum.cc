#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "sorter/checksum.h"

using namespace sorter;

namespace {

std::string hex(const uint8_t* d, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[d[i] >> 4];
    s += digits[d[i] & 15];
  }
  return s;
}

std::string sha(const std::string& s) {
  uint8_t d[32];
  Sha256::hash(reinterpret_cast<const uint8_t*>(s.data()), s.size(), d);
  return hex(d, 32);
}

}  // namespace

// Published test vectors: FIPS 180-2 examples for SHA-256, the CRC catalogue's check value for CRC-32.
TEST(sha256_known_vectors) {
  CHECK(sha("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(sha256_chunked_equals_one_shot) {
  std::vector<uint8_t> data(1000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  uint8_t one[32];
  Sha256::hash(data.data(), data.size(), one);
  const size_t chunks[] = {1, 3, 63, 64, 65, 200};
  for (size_t c : chunks) {
    Sha256 h;
    for (size_t off = 0; off < data.size(); off += c) h.update(data.data() + off, std::min(c, data.size() - off));
    uint8_t two[32];
    h.finish(two);
    CHECK(std::memcmp(one, two, 32) == 0);
  }
}

TEST(crc32_known_vectors) {
  const char* check = "123456789";
  CHECK_EQ(crc32(reinterpret_cast<const uint8_t*>(check), 9), 0xCBF43926u);
  CHECK_EQ(crc32(nullptr, 0), 0u);
  const uint32_t part = crc32(reinterpret_cast<const uint8_t*>(check), 4);
  CHECK_EQ(crc32_update(part, reinterpret_cast<const uint8_t*>(check) + 4, 5), 0xCBF43926u);
}
