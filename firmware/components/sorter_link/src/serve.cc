#include "sorter_link/serve.h"

namespace sorter_link {

void serve(sorter::Link& link, Dispatcher& dispatcher) {
  uint8_t buf[512];
  for (;;) {
    const int n = link.read(buf, sizeof buf, 1000);
    if (n < 0) return;
    if (n > 0) dispatcher.feed(buf, static_cast<size_t>(n));
  }
}

}  // namespace sorter_link
