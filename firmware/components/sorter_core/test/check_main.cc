#include "check.h"

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int run = 0;
  for (const auto& c : check::registry()) {
    if (filter != nullptr && std::strstr(c.name, filter) == nullptr) continue;
    const int before = check::failures();
    c.fn();
    ++run;
    std::printf("%s %s\n", check::failures() == before ? "ok  " : "FAIL", c.name);
  }
  std::printf("%d tests, %d failed checks (%zu-bit build)\n", run, check::failures(), sizeof(void*) * 8);
  return check::failures() == 0 && run > 0 ? 0 : 1;
}
