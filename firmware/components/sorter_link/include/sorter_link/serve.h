// Glue between sorter::Link (the device's byte stream, sorter_core) and the protocol dispatcher.
#pragma once

#include "sorter/link.h"
#include "sorter_link/dispatcher.h"
#include "sorter_link/frame.h"

namespace sorter_link {

class LinkSink : public ByteSink {
 public:
  explicit LinkSink(sorter::Link& link) : link_(link) {}
  // A failed write (host gone) drops the bytes: the host retries after its timeout.
  void write(const uint8_t* data, size_t len) override { link_.write(data, len); }

 private:
  sorter::Link& link_;
};

// Serves requests until the link reports it is closed (read() < 0). The device's protocol task
// runs this forever; requests are answered in order, one at a time.
void serve(sorter::Link& link, Dispatcher& dispatcher);

}  // namespace sorter_link
