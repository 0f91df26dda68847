// A minimal test harness: TEST(name) registers a function, CHECK* record failures with file:line and
// keep going, main() runs every test (or those whose name contains argv[1]) and returns non-zero on
// any failure. No dependency beyond the standard library.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace check {

struct Case {
  const char* name;
  void (*fn)();
};

inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

inline int& failures() {
  static int n = 0;
  return n;
}

struct Registrar {
  Registrar(const char* name, void (*fn)()) { registry().push_back(Case{name, fn}); }
};

inline void fail(const char* file, int line, const std::string& what) {
  ++failures();
  std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what.c_str());
}

}  // namespace check

#define TEST(name)                                                   \
  static void test_##name();                                         \
  static ::check::Registrar registrar_##name(#name, &test_##name);   \
  static void test_##name()

#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) ::check::fail(__FILE__, __LINE__, #cond);           \
  } while (0)

#define CHECK_EQ(a, b)                                                                        \
  do {                                                                                        \
    const auto va_ = (a);                                                                     \
    const auto vb_ = (b);                                                                     \
    if (!(va_ == vb_)) {                                                                      \
      ::check::fail(__FILE__, __LINE__,                                                       \
                    std::string(#a " == " #b " (") + std::to_string(static_cast<long long>(va_)) + \
                        " vs " + std::to_string(static_cast<long long>(vb_)) + ")");          \
    }                                                                                         \
  } while (0)

// For a failing check inside a loop: stop the loop after the first report.
#define CHECK_OR_BREAK(cond) \
  if (!(cond)) {             \
    CHECK(cond);             \
    break;                   \
  }
