// A byte stream to the host (USB-Serial-JTAG or UART on the device, a pseudo-terminal or stdio in
// the simulator). The serial protocol (components/sorter_link) frames its messages on top of it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sorter {

class Link {
 public:
  virtual ~Link() = default;
  // Reads up to max bytes, waiting at most timeout_ms for the first one. Returns the number of bytes
  // read (0 on timeout) or -1 when the link is closed or broken.
  virtual int read(uint8_t* buf, size_t max, uint32_t timeout_ms) = 0;
  // Writes all len bytes or returns false.
  virtual bool write(const uint8_t* data, size_t len) = 0;
};

}  // namespace sorter
