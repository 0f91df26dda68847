#include "int8_engine/flatbuffer.h"

namespace int8_engine {
namespace fb {

bool Reader::follow(size_t pos, size_t* target) const {
  uint32_t off = 0;
  if (!read(pos, &off)) return false;
  const uint64_t t = static_cast<uint64_t>(pos) + off;
  if (off == 0 || t >= size_) {
    error_ = true;
    return false;
  }
  *target = static_cast<size_t>(t);
  return true;
}

Table Reader::table_at(size_t pos) const {
  Table t;
  t.r = this;
  int32_t soff = 0;
  if (!read(pos, &soff)) return t;
  const int64_t vt = static_cast<int64_t>(pos) - static_cast<int64_t>(soff);
  if (vt < 0 || static_cast<uint64_t>(vt) + 4 > size_) {
    error_ = true;
    return t;
  }
  uint16_t vsize = 0;
  uint16_t tsize = 0;
  read(static_cast<size_t>(vt), &vsize);
  read(static_cast<size_t>(vt) + 2, &tsize);
  if (vsize < 4 || (vsize & 1) != 0 || !in_bounds(static_cast<size_t>(vt), vsize) || tsize < 4 ||
      !in_bounds(pos, tsize)) {
    error_ = true;
    return t;
  }
  t.pos = pos;
  t.vtable = static_cast<size_t>(vt);
  t.vtable_size = vsize;
  t.present = true;
  return t;
}

Table Reader::root() const {
  size_t pos = 0;
  if (!follow(0, &pos)) return Table{};
  return table_at(pos);
}

Vec Reader::vec_at(size_t pos, uint32_t elem_size) const {
  Vec v;
  v.r = this;
  uint32_t count = 0;
  if (!read(pos, &count)) return v;
  const uint64_t bytes = static_cast<uint64_t>(count) * elem_size;
  if (!in_bounds(pos + 4, 0) || bytes > size_ - (pos + 4)) {
    error_ = true;
    return v;
  }
  v.pos = pos + 4;
  v.count = count;
  v.elem_size = elem_size;
  v.present = true;
  return v;
}

size_t Table::field_pos(int id, size_t value_size) const {
  if (!present || id < 0) return 0;
  const size_t entry = 4 + static_cast<size_t>(id) * 2;
  if (entry + 2 > vtable_size) return 0;  // field not in this (older) vtable: absent
  uint16_t off = 0;
  if (!r->read(vtable + entry, &off) || off == 0) return 0;
  const size_t p = pos + off;
  if (!r->in_bounds(p, value_size)) {
    r->fail();
    return 0;
  }
  return p;
}

Table Table::table(int id) const {
  const size_t p = field_pos(id, 4);
  size_t target = 0;
  if (p == 0 || !r->follow(p, &target)) return Table{};
  return r->table_at(target);
}

Vec Table::vec(int id, uint32_t elem_size) const {
  const size_t p = field_pos(id, 4);
  size_t target = 0;
  if (p == 0 || !r->follow(p, &target)) return Vec{};
  return r->vec_at(target, elem_size);
}

static bool string_at(const Reader* r, size_t pos, const char** s, uint32_t* len) {
  Vec v = r->vec_at(pos, 1);
  if (!v.present) return false;
  *s = reinterpret_cast<const char*>(r->data() + v.pos);
  *len = v.count;
  return true;
}

bool Table::string(int id, const char** s, uint32_t* len) const {
  const size_t p = field_pos(id, 4);
  size_t target = 0;
  if (p == 0 || !r->follow(p, &target)) return false;
  return string_at(r, target, s, len);
}

Table Vec::table(uint32_t i) const {
  if (!present || i >= count || elem_size != 4) {
    if (r) r->fail();
    return Table{};
  }
  size_t target = 0;
  if (!r->follow(pos + static_cast<size_t>(i) * 4, &target)) return Table{};
  return r->table_at(target);
}

bool Vec::string(uint32_t i, const char** s, uint32_t* len) const {
  if (!present || i >= count || elem_size != 4) return false;
  size_t target = 0;
  if (!r->follow(pos + static_cast<size_t>(i) * 4, &target)) return false;
  return string_at(r, target, s, len);
}

const uint8_t* Vec::bytes() const { return present ? r->data() + pos : nullptr; }

}  // namespace fb
}  // namespace int8_engine
