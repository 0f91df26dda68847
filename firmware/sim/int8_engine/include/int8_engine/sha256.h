// SHA-256 for the model hash in the engine's description and the protocol handshake: the portable
// core's implementation (sorter/checksum.h), so the device and the simulator hash with one piece of code.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sorter/checksum.h"

namespace int8_engine {

using Sha256 = sorter::Sha256;

inline void sha256(const uint8_t* data, size_t len, uint8_t digest[32]) { sorter::Sha256::hash(data, len, digest); }

}  // namespace int8_engine
