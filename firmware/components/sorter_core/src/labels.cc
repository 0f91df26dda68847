#include "sorter/labels.h"

#include <cstdint>
#include <cstring>

namespace sorter {

namespace {

struct Cursor {
  const char* p;
  const char* end;
  void skip_ws() {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
  }
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool read_hex4(Cursor& c, uint32_t* out) {
  if (c.end - c.p < 4) return false;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const int h = hex_value(c.p[i]);
    if (h < 0) return false;
    v = (v << 4) | static_cast<uint32_t>(h);
  }
  c.p += 4;
  *out = v;
  return true;
}

// Appends the UTF-8 encoding of code point cp; false when out of space.
bool put_utf8(uint32_t cp, char*& w, const char* wend) {
  char buf[4];
  size_t n;
  if (cp < 0x80) {
    buf[0] = static_cast<char>(cp);
    n = 1;
  } else if (cp < 0x800) {
    buf[0] = static_cast<char>(0xC0 | (cp >> 6));
    buf[1] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    buf[0] = static_cast<char>(0xE0 | (cp >> 12));
    buf[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    buf[2] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    buf[0] = static_cast<char>(0xF0 | (cp >> 18));
    buf[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 4;
  }
  if (static_cast<size_t>(wend - w) < n) return false;
  std::memcpy(w, buf, n);
  w += n;
  return true;
}

// Reads a JSON string at c.p (which must be '"'); writes its decoded bytes at w when w is not null.
bool read_string(Cursor& c, char** w, const char* wend) {
  if (c.p >= c.end || *c.p != '"') return false;
  ++c.p;
  while (c.p < c.end) {
    const char ch = *c.p++;
    if (ch == '"') return true;
    if (static_cast<unsigned char>(ch) < 0x20) return false;
    if (ch != '\\') {
      if (w) {
        if (*w >= wend) return false;
        *(*w)++ = ch;
      }
      continue;
    }
    if (c.p >= c.end) return false;
    const char e = *c.p++;
    uint32_t cp = 0;
    switch (e) {
      case '"': cp = '"'; break;
      case '\\': cp = '\\'; break;
      case '/': cp = '/'; break;
      case 'b': cp = '\b'; break;
      case 'f': cp = '\f'; break;
      case 'n': cp = '\n'; break;
      case 'r': cp = '\r'; break;
      case 't': cp = '\t'; break;
      case 'u': {
        if (!read_hex4(c, &cp)) return false;
        if (cp >= 0xD800 && cp < 0xDC00) {
          uint32_t lo = 0;
          if (c.end - c.p < 6 || c.p[0] != '\\' || c.p[1] != 'u') return false;
          c.p += 2;
          if (!read_hex4(c, &lo) || lo < 0xDC00 || lo >= 0xE000) return false;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp < 0xE000) {
          return false;
        }
        break;
      }
      default:
        return false;
    }
    if (w && !put_utf8(cp, *w, wend)) return false;
  }
  return false;
}

// Moves c to the value of top-level key `key` in a JSON object; false when absent or malformed.
bool seek_key(Cursor& c, const char* key) {
  const size_t want = std::strlen(key);
  c.skip_ws();
  if (c.p >= c.end || *c.p != '{') return false;
  ++c.p;
  // Walk the top-level keys; other values are skipped by bracket matching.
  while (true) {
    c.skip_ws();
    if (c.p >= c.end || *c.p == '}') return false;
    const char* key_start = c.p + 1;
    if (!read_string(c, nullptr, nullptr)) return false;
    const size_t key_len = static_cast<size_t>(c.p - key_start - 1);
    c.skip_ws();
    if (c.p >= c.end || *c.p != ':') return false;
    ++c.p;
    c.skip_ws();
    if (key_len == want && std::memcmp(key_start, key, want) == 0) return true;
    // Skip a value: strings, nested objects/arrays, literals and numbers.
    int depth = 0;
    while (c.p < c.end) {
      if (*c.p == '"') {
        if (!read_string(c, nullptr, nullptr)) return false;
        if (depth == 0) break;
        continue;
      }
      if (*c.p == '{' || *c.p == '[') ++depth;
      if (*c.p == '}' || *c.p == ']') {
        if (depth == 0) break;
        --depth;
        ++c.p;
        if (depth == 0) break;
        continue;
      }
      if (depth == 0 && *c.p == ',') break;
      ++c.p;
    }
    c.skip_ws();
    if (c.p >= c.end || *c.p != ',') return false;
    ++c.p;
  }
}

}  // namespace

size_t parse_labels_json(const char* json, size_t len, char* storage, size_t storage_len, const char** labels,
                         size_t max_labels) {
  if (json == nullptr || storage == nullptr || labels == nullptr || storage_len == 0) return 0;
  Cursor c{json, json + len};
  if (!seek_key(c, "labels")) return 0;
  if (c.p >= c.end || *c.p != '[') return 0;
  ++c.p;
  char* w = storage;
  const char* wend = storage + storage_len;
  size_t n = 0;
  c.skip_ws();
  if (c.p < c.end && *c.p == ']') return 0;
  while (true) {
    c.skip_ws();
    if (n >= max_labels) return 0;
    labels[n] = w;
    if (!read_string(c, &w, wend - 1)) return 0;
    if (w >= wend) return 0;
    *w++ = '\0';
    ++n;
    c.skip_ws();
    if (c.p >= c.end) return 0;
    if (*c.p == ']') return n;
    if (*c.p != ',') return 0;
    ++c.p;
  }
}

bool parse_json_string_field(const char* json, size_t len, const char* key, char* out, size_t out_len) {
  if (json == nullptr || key == nullptr || out == nullptr || out_len == 0) return false;
  Cursor c{json, json + len};
  if (!seek_key(c, key)) return false;
  char* w = out;
  if (!read_string(c, &w, out + out_len - 1)) return false;
  *w = '\0';
  return true;
}

}  // namespace sorter
