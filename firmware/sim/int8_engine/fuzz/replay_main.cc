// Replays files (or every file of the given directories) through LLVMFuzzerTestOneInput without
// libFuzzer, so the fuzz corpus is exercised by ctest in the normal gcc build.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

static void replay(const std::filesystem::path& p, int* count) {
  std::ifstream f(p, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Also every prefix of small files: truncation is the commonest corruption.
  if (bytes.size() <= 4096) {
    for (size_t n = 0; n < bytes.size(); n += 7) {
      std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<long>(n));
      LLVMFuzzerTestOneInput(prefix.data(), prefix.size());
    }
  }
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  ++*count;
}

int main(int argc, char** argv) {
  int count = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p)) {
        if (e.is_regular_file()) replay(e.path(), &count);
      }
    } else {
      replay(p, &count);
    }
  }
  std::printf("replayed %d inputs\n", count);
  return count > 0 ? 0 : 1;
}
