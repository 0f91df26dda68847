#include "sorter_link/dispatcher.h"

#include <cstdio>
#include <cstring>

namespace sorter_link {

namespace {

size_t str_size(const char* s) {
  const size_t n = s ? std::strlen(s) : 0;
  return 2 + (n > 0xFFFF ? 0xFFFF : n);
}

}  // namespace

size_t result_payload_size(size_t num_classes) { return 2 + 4 + 2 + num_classes; }

Dispatcher::Dispatcher(sorter::Classifier& classifier, const DeviceIdentity& identity, ByteSink& sink)
    : classifier_(classifier), identity_(identity), sink_(sink) {}

void Dispatcher::feed(const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    if (decoder_.push(data[i]) == FrameDecoder::Event::kFrame) {
      handle(decoder_.header(), decoder_.payload(), decoder_.payload_len());
    }
  }
}

void Dispatcher::announce() {
  // A leading delimiter ends whatever partial bytes (boot log, noise) the host has buffered.
  const uint8_t delim = 0;
  sink_.write(&delim, 1);
  send_info(kSeqUnsolicited);
}

void Dispatcher::handle(const FrameHeader& header, const uint8_t* payload, size_t len) {
  if (header.version != kProtocolVersion) {
    char text[96];
    std::snprintf(text, sizeof text, "device speaks protocol version %u, request had version %u",
                  static_cast<unsigned>(kProtocolVersion), static_cast<unsigned>(header.version));
    send_error(header.seq, ErrorCode::kUnsupportedVersion, text);
    return;
  }
  switch (static_cast<MsgType>(header.type)) {
    case MsgType::kHello:
      send_info(header.seq);
      return;
    case MsgType::kPing: {
      FrameWriter w(sink_);
      w.begin(MsgType::kPong, header.seq, static_cast<uint32_t>(len));
      w.put(payload, len);
      w.end();
      return;
    }
    case MsgType::kInfer: {
      uint16_t cls = 0;
      uint32_t invoke_us = 0;
      if (!run_classifier(header.seq, payload, len, &cls, &invoke_us)) return;
      FrameWriter w(sink_);
      w.begin(MsgType::kResult, header.seq, static_cast<uint32_t>(result_payload_size(scores_.size())));
      send_result_body(w, cls, invoke_us);
      w.end();
      return;
    }
    case MsgType::kDump:
      handle_dump(header.seq, payload, len);
      return;
    default: {
      char text[64];
      std::snprintf(text, sizeof text, "unknown message type 0x%02x", static_cast<unsigned>(header.type));
      send_error(header.seq, ErrorCode::kUnknownType, text);
      return;
    }
  }
}

bool Dispatcher::run_classifier(uint16_t seq, const uint8_t* payload, size_t len, uint16_t* cls,
                                uint32_t* invoke_us) {
  if (!classifier_.ready()) {
    send_error(seq, ErrorCode::kNotReady, classifier_.last_error());
    return false;
  }
  const sorter::ModelDescription& d = classifier_.description();
  const size_t expected = static_cast<size_t>(d.input_width) * d.input_height * d.input_channels;
  if (len != expected) {
    char text[96];
    std::snprintf(text, sizeof text, "input has %lu bytes, the model needs %ux%ux%u = %lu",
                  static_cast<unsigned long>(len), static_cast<unsigned>(d.input_width),
                  static_cast<unsigned>(d.input_height), static_cast<unsigned>(d.input_channels),
                  static_cast<unsigned long>(expected));
    send_error(seq, ErrorCode::kBadPayload, text);
    return false;
  }
  scores_.assign(d.num_classes, 0);
  const sorter::Status st = classifier_.classify(reinterpret_cast<const int8_t*>(payload), len,
                                                 scores_.data(), scores_.size(), invoke_us);
  if (st != sorter::Status::kOk) {
    send_error(seq, st == sorter::Status::kBadInput ? ErrorCode::kBadPayload : ErrorCode::kInvokeFailed,
               classifier_.last_error());
    return false;
  }
  uint16_t best = 0;
  for (size_t i = 1; i < scores_.size(); ++i) {
    if (scores_[i] > scores_[best]) best = static_cast<uint16_t>(i);
  }
  *cls = best;
  return true;
}

void Dispatcher::send_result_body(FrameWriter& w, uint16_t cls, uint32_t invoke_us) {
  w.put_u16(cls);
  w.put_u32(invoke_us);
  w.put_u16(static_cast<uint16_t>(scores_.size()));
  w.put(reinterpret_cast<const uint8_t*>(scores_.data()), scores_.size());
}

void Dispatcher::handle_dump(uint16_t seq, const uint8_t* payload, size_t len) {
  uint16_t cls = 0;
  uint32_t invoke_us = 0;
  if (!run_classifier(seq, payload, len, &cls, &invoke_us)) return;
  const size_t count = classifier_.dump_tensor_count();
  if (count == 0) {
    send_error(seq, ErrorCode::kNoDump, "this firmware cannot expose intermediate tensors");
    return;
  }
  const uint16_t count16 = static_cast<uint16_t>(count > 0xFFFF ? 0xFFFF : count);
  for (uint16_t i = 0; i < count16; ++i) {
    const int8_t* data = nullptr;
    size_t n = 0;
    const char* name = nullptr;
    if (classifier_.dump_tensor(i, &data, &n, &name) != sorter::Status::kOk) {
      data = nullptr;
      n = 0;
    }
    if (!name) name = "";
    size_t offset = 0;
    // Every tensor gets at least one frame, so the host sees empty or missing tensors too.
    do {
      const size_t chunk = (n - offset) < kDumpChunk ? (n - offset) : kDumpChunk;
      FrameWriter w(sink_);
      w.begin(MsgType::kDumpTensor, seq,
              static_cast<uint32_t>(2 + 2 + 4 + 4 + str_size(name) + chunk));
      w.put_u16(i);
      w.put_u16(count16);
      w.put_u32(static_cast<uint32_t>(n));
      w.put_u32(static_cast<uint32_t>(offset));
      w.put_str(name);
      w.put(reinterpret_cast<const uint8_t*>(data) + offset, chunk);
      w.end();
      offset += chunk;
    } while (offset < n);
  }
  FrameWriter w(sink_);
  w.begin(MsgType::kDumpEnd, seq, static_cast<uint32_t>(2 + result_payload_size(scores_.size())));
  w.put_u16(count16);
  send_result_body(w, cls, invoke_us);
  w.end();
}

void Dispatcher::send_error(uint16_t seq, ErrorCode code, const char* text) {
  FrameWriter w(sink_);
  w.begin(MsgType::kError, seq, static_cast<uint32_t>(2 + str_size(text)));
  w.put_u16(static_cast<uint16_t>(code));
  w.put_str(text);
  w.end();
}

void Dispatcher::send_info(uint16_t seq) {
  const sorter::ModelDescription& d = classifier_.description();
  const bool ready = classifier_.ready();
  const char* status = ready ? "" : classifier_.last_error();
  size_t labels_size = 2;
  const size_t nl = identity_.num_labels > 0xFFFF ? 0xFFFF : identity_.num_labels;
  for (size_t i = 0; i < nl; ++i) labels_size += str_size(identity_.labels[i]);
  const size_t size = 1 + 1 + 4 + 4 + str_size(identity_.firmware_version) + 32 + 6 + 16 + 2 + 4 +
                      str_size(status) + labels_size + (identity_.app_elf_sha256 != nullptr ? 32 : 0);
  FrameWriter w(sink_);
  w.begin(MsgType::kInfo, seq, static_cast<uint32_t>(size));
  w.put_u8(kProtocolVersion);
  w.put_u8(ready ? 1 : 0);
  w.put_u32(identity_.boot_id);
  w.put_u32(static_cast<uint32_t>(kMaxPayload));
  w.put_str(identity_.firmware_version);
  w.put(d.model_sha256, 32);
  w.put_u16(d.input_width);
  w.put_u16(d.input_height);
  w.put_u16(d.input_channels);
  w.put_f32(d.input_quant.scale);
  w.put_i32(d.input_quant.zero_point);
  w.put_f32(d.output_quant.scale);
  w.put_i32(d.output_quant.zero_point);
  w.put_u16(d.num_classes);
  w.put_u32(d.arena_used_bytes);
  w.put_str(status);
  w.put_u16(static_cast<uint16_t>(nl));
  for (size_t i = 0; i < nl; ++i) w.put_str(identity_.labels[i]);
  if (identity_.app_elf_sha256 != nullptr) w.put(identity_.app_elf_sha256, 32);
  w.end();
}

}  // namespace sorter_link
