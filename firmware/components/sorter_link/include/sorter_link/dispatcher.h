// Serves the sorter serial protocol over any sorter::Classifier: TFLite Micro on the device, the
// int8 reference engine in sorter-sim. Requests arrive as decoded frames; answers go to a ByteSink.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sorter/classifier.h"
#include "sorter_link/frame.h"
#include "sorter_link/protocol.h"

namespace sorter_link {

struct DeviceIdentity {
  const char* firmware_version = "";
  const char* const* labels = nullptr;
  size_t num_labels = 0;
  // Differs between boots (random or a boot counter): lets the host see that the device reset.
  uint32_t boot_id = 0;
  // SHA-256 of the running app's ELF (esp_app_desc_t::app_elf_sha256), 32 bytes: identifies the build
  // exactly. Null where there is no app image (the simulator); INFO then ends after the labels.
  const uint8_t* app_elf_sha256 = nullptr;
};

class Dispatcher {
 public:
  Dispatcher(sorter::Classifier& classifier, const DeviceIdentity& identity, ByteSink& sink);

  // Answers one decoded frame (version, type, seq from the header).
  void handle(const FrameHeader& header, const uint8_t* payload, size_t len);
  // Unsolicited INFO (seq kSeqUnsolicited), sent once at boot so a connected host notices a reset.
  void announce();

  // Convenience for single-threaded loops: decode bytes and handle each complete frame.
  void feed(const uint8_t* data, size_t len);

  uint32_t frames_rejected() const { return decoder_.frames_rejected(); }

 private:
  void send_info(uint16_t seq);
  void send_error(uint16_t seq, ErrorCode code, const char* text);
  void send_result_body(FrameWriter& w, uint16_t cls, uint32_t invoke_us);
  bool run_classifier(uint16_t seq, const uint8_t* payload, size_t len, uint16_t* cls,
                      uint32_t* invoke_us);
  void handle_dump(uint16_t seq, const uint8_t* payload, size_t len);

  sorter::Classifier& classifier_;
  DeviceIdentity identity_;
  ByteSink& sink_;
  FrameDecoder decoder_;
  std::vector<int8_t> scores_;
};

// Sizes of the fixed-layout payloads, shared with the tests.
size_t result_payload_size(size_t num_classes);

}  // namespace sorter_link
