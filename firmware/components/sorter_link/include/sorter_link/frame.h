// Framing: header + payload + CRC-32, COBS-encoded, terminated by 0x00 (docs/protocol.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sorter_link/protocol.h"

namespace sorter_link {

// Where encoded bytes go (a UART, a pty, a buffer). Blocking; returns when the bytes are taken.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(const uint8_t* data, size_t len) = 0;
};

class VectorSink : public ByteSink {
 public:
  void write(const uint8_t* data, size_t len) override { bytes.insert(bytes.end(), data, data + len); }
  std::vector<uint8_t> bytes;
};

// Streams one frame to a sink without holding the whole payload: begin(), any number of put(),
// end(). COBS needs at most 254 bytes of look-ahead, so memory use is one block.
class FrameWriter {
 public:
  explicit FrameWriter(ByteSink& sink) : sink_(sink) {}
  void begin(MsgType type, uint16_t seq, uint32_t payload_len, uint8_t version = kProtocolVersion);
  void put(const uint8_t* data, size_t len);
  void put_u8(uint8_t v) { put(&v, 1); }
  void put_u16(uint16_t v);
  void put_u32(uint32_t v);
  void put_i32(int32_t v) { put_u32(static_cast<uint32_t>(v)); }
  void put_f32(float v);
  // u16 length + bytes; longer strings are cut at 65535 bytes.
  void put_str(const char* s);
  // Finishes the frame. Returns false when the bytes put differ from the announced payload_len
  // (the frame is then still terminated, with a CRC that makes the receiver drop it).
  bool end();

 private:
  void cobs_byte(uint8_t b);
  void flush_block(uint8_t code);
  ByteSink& sink_;
  uint8_t block_[255];
  size_t block_len_ = 0;  // data bytes in block_ after the code slot
  bool last_block_full_ = false;
  uint32_t crc_ = 0;
  uint32_t announced_ = 0;
  uint32_t written_ = 0;
};

// Encodes a whole frame in one call (tests, small messages).
std::vector<uint8_t> encode_frame(MsgType type, uint16_t seq, const uint8_t* payload, size_t len,
                                  uint8_t version = kProtocolVersion);

enum class DecodeError : uint8_t {
  kNone = 0,
  kOversized,       // more bytes than a maximal frame before the delimiter
  kTruncated,       // delimiter inside a COBS block, i.e. bytes were lost
  kTooShort,        // fewer bytes than header + CRC
  kLengthMismatch,  // header payload length differs from the bytes received
  kBadCrc,
};

const char* decode_error_name(DecodeError e);

// Streaming decoder fed one byte at a time. Any error discards bytes up to the next 0x00, where the
// next frame starts (resynchronisation). Empty frames (two delimiters in a row) are ignored.
// Frames of any protocol version are delivered: the dispatcher answers a version it does not speak.
class FrameDecoder {
 public:
  enum class Event : uint8_t { kNone, kFrame, kError };

  explicit FrameDecoder(size_t max_payload = kMaxPayload);
  Event push(uint8_t byte);

  // Valid after push() returned kFrame, until the next push().
  const FrameHeader& header() const { return header_; }
  const uint8_t* payload() const { return buf_.data() + kHeaderSize; }
  size_t payload_len() const { return header_.payload_len; }
  // Valid after push() returned kError.
  DecodeError error() const { return error_; }

  uint32_t frames_ok() const { return frames_ok_; }
  uint32_t frames_rejected() const { return frames_rejected_; }

 private:
  Event finish();
  void reset_block();
  std::vector<uint8_t> buf_;
  size_t len_ = 0;
  size_t max_frame_;
  uint8_t remaining_ = 0;  // data bytes left in the current COBS block
  bool pending_zero_ = false;
  bool in_block_ = false;
  bool discarding_ = false;  // an error was seen; skip to the next delimiter
  DecodeError discard_reason_ = DecodeError::kNone;
  FrameHeader header_{};
  DecodeError error_ = DecodeError::kNone;
  uint32_t frames_ok_ = 0;
  uint32_t frames_rejected_ = 0;
};

// Little-endian reader over a payload with bounds checks; any overrun sets ok() to false and makes
// further reads return zeros.
class PayloadReader {
 public:
  PayloadReader(const uint8_t* data, size_t len) : p_(data), len_(len) {}
  uint8_t u8();
  uint16_t u16();
  uint32_t u32();
  int32_t i32() { return static_cast<int32_t>(u32()); }
  float f32();
  // Returns a pointer to `n` bytes or nullptr on overrun.
  const uint8_t* bytes(size_t n);
  size_t remaining() const { return ok_ ? len_ - pos_ : 0; }
  bool ok() const { return ok_; }

 private:
  const uint8_t* p_;
  size_t len_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace sorter_link
