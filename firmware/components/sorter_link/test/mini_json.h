// A small JSON reader for the golden test vectors (objects, arrays, strings, numbers, booleans,
// null). Not a general parser: no \u escapes beyond ASCII.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mini_json {

struct Value {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = Kind::kNull;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Value> arr;
  std::map<std::string, Value> obj;

  const Value& operator[](const std::string& key) const;
  const Value& operator[](size_t i) const { return arr.at(i); }
  bool has(const std::string& key) const { return obj.count(key) != 0; }
  size_t size() const { return kind == Kind::kArray ? arr.size() : obj.size(); }
  long long integer() const { return static_cast<long long>(num); }
};

// Throws std::runtime_error with the byte offset on malformed input.
Value parse(const std::string& text);
Value parse_file(const std::string& path);

}  // namespace mini_json
