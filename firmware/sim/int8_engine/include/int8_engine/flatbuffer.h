// A bounds-checked, read-only view of a flatbuffer. Every offset, vtable and vector length is checked
// against the buffer before it is followed; a malformed buffer yields empty/absent values and sets
// the reader's error flag instead of reading out of bounds. Values are read with memcpy, so the
// buffer needs no particular alignment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace int8_engine {
namespace fb {

class Reader;
struct Table;

// A vector inside the buffer: `count` elements of `elem_size` bytes starting at `pos`.
struct Vec {
  const Reader* r = nullptr;
  size_t pos = 0;
  uint32_t count = 0;
  uint32_t elem_size = 0;
  bool present = false;

  template <typename T>
  T scalar(uint32_t i) const;
  // Element i of a vector of tables/strings (each element is a uoffset).
  Table table(uint32_t i) const;
  bool string(uint32_t i, const char** s, uint32_t* len) const;
  const uint8_t* bytes() const;
};

struct Table {
  const Reader* r = nullptr;
  size_t pos = 0;
  size_t vtable = 0;
  uint16_t vtable_size = 0;
  bool present = false;

  // Position of field `id`'s inline value, or 0 when the field is absent or out of bounds.
  size_t field_pos(int id, size_t value_size) const;
  template <typename T>
  T scalar(int id, T def) const;
  Table table(int id) const;
  Vec vec(int id, uint32_t elem_size) const;
  bool string(int id, const char** s, uint32_t* len) const;
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  Table root() const;
  bool ok() const { return !error_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

  bool in_bounds(size_t pos, size_t len) const { return pos <= size_ && len <= size_ - pos; }
  template <typename T>
  bool read(size_t pos, T* out) const {
    if (!in_bounds(pos, sizeof(T))) {
      error_ = true;
      return false;
    }
    std::memcpy(out, data_ + pos, sizeof(T));
    return true;
  }
  Table table_at(size_t pos) const;
  // Follows the uoffset stored at `pos`; returns false when it leaves the buffer.
  bool follow(size_t pos, size_t* target) const;
  Vec vec_at(size_t pos, uint32_t elem_size) const;
  void fail() const { error_ = true; }

 private:
  const uint8_t* data_;
  size_t size_;
  mutable bool error_ = false;
};

template <typename T>
T Vec::scalar(uint32_t i) const {
  T v{};
  if (!present || i >= count) {
    if (r) r->fail();
    return v;
  }
  r->read(pos + static_cast<size_t>(i) * elem_size, &v);
  return v;
}

template <typename T>
T Table::scalar(int id, T def) const {
  const size_t p = field_pos(id, sizeof(T));
  if (p == 0) return def;
  T v = def;
  r->read(p, &v);
  return v;
}

}  // namespace fb
}  // namespace int8_engine
