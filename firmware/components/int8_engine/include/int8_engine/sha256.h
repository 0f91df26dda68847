// SHA-256 (FIPS 180-4). Used for the model hash in the engine's description and the protocol handshake.
#pragma once

#include <cstddef>
#include <cstdint>

namespace int8_engine {

class Sha256 {
 public:
  Sha256();
  void update(const uint8_t* data, size_t len);
  void finish(uint8_t digest[32]);

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_;
  uint64_t total_len_;
};

void sha256(const uint8_t* data, size_t len, uint8_t digest[32]);

}  // namespace int8_engine
