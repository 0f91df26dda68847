// Reading a whole file for the host tools (int8-run, sorter-sim); not used on the device.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <exception>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace int8_engine {

// Reads `path` into `out`. False, with errno set, for anything but a readable regular file: libstdc++
// opens a folder without complaint and then throws from the first read, which aborted the tools.
inline bool read_regular_file(const std::string& path, std::vector<uint8_t>* out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  if (!S_ISREG(st.st_mode)) {
    errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    return false;
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  try {
    out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  } catch (const std::exception&) {
    errno = EIO;
    return false;
  }
  return !f.bad();
}

}  // namespace int8_engine
