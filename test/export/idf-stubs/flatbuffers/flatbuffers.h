#pragma once
#include <cstdint>
namespace flatbuffers {
typedef uint32_t uoffset_t;
template <typename T> class Vector {
 public:
  uoffset_t size() const;
  T Get(uoffset_t i) const;
  const uint8_t* data() const;
};
class String { public: const char* c_str() const; };
}
