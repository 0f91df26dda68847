#include "sorter_link/frame.h"

#include <cstring>

#include "sorter/checksum.h"

namespace sorter_link {

void FrameWriter::begin(MsgType type, uint16_t seq, uint32_t payload_len, uint8_t version) {
  block_len_ = 0;
  last_block_full_ = false;
  crc_ = 0;
  announced_ = payload_len;
  written_ = 0;
  const uint8_t header[kHeaderSize] = {
      version,
      static_cast<uint8_t>(type),
      static_cast<uint8_t>(seq & 0xFF),
      static_cast<uint8_t>(seq >> 8),
      static_cast<uint8_t>(payload_len & 0xFF),
      static_cast<uint8_t>((payload_len >> 8) & 0xFF),
      static_cast<uint8_t>((payload_len >> 16) & 0xFF),
      static_cast<uint8_t>(payload_len >> 24),
  };
  crc_ = sorter::crc32_update(crc_, header, kHeaderSize);
  for (uint8_t b : header) cobs_byte(b);
}

void FrameWriter::put(const uint8_t* data, size_t len) {
  crc_ = sorter::crc32_update(crc_, data, len);
  written_ += static_cast<uint32_t>(len);
  for (size_t i = 0; i < len; ++i) cobs_byte(data[i]);
}

void FrameWriter::put_u16(uint16_t v) {
  const uint8_t b[2] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)};
  put(b, 2);
}

void FrameWriter::put_u32(uint32_t v) {
  const uint8_t b[4] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8),
                        static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 24)};
  put(b, 4);
}

void FrameWriter::put_f32(float v) {
  uint32_t u;
  static_assert(sizeof(u) == sizeof(v), "float must be 32-bit");
  std::memcpy(&u, &v, 4);
  put_u32(u);
}

void FrameWriter::put_str(const char* s) {
  size_t n = s ? std::strlen(s) : 0;
  if (n > 0xFFFF) n = 0xFFFF;
  put_u16(static_cast<uint16_t>(n));
  put(reinterpret_cast<const uint8_t*>(s), n);
}

void FrameWriter::cobs_byte(uint8_t b) {
  if (b == 0) {
    flush_block(static_cast<uint8_t>(block_len_ + 1));
    last_block_full_ = false;
    return;
  }
  block_[1 + block_len_++] = b;
  if (block_len_ == 254) {
    flush_block(0xFF);
    last_block_full_ = true;
  }
}

void FrameWriter::flush_block(uint8_t code) {
  block_[0] = code;
  sink_.write(block_, block_len_ + 1);
  block_len_ = 0;
}

bool FrameWriter::end() {
  const uint32_t crc = crc_;
  const uint8_t c[4] = {static_cast<uint8_t>(crc), static_cast<uint8_t>(crc >> 8),
                        static_cast<uint8_t>(crc >> 16), static_cast<uint8_t>(crc >> 24)};
  for (uint8_t b : c) cobs_byte(b);
  // A frame that ends exactly after a full 254-byte block needs no final code byte.
  if (!(block_len_ == 0 && last_block_full_)) flush_block(static_cast<uint8_t>(block_len_ + 1));
  const uint8_t delim = 0;
  sink_.write(&delim, 1);
  return written_ == announced_;
}

std::vector<uint8_t> encode_frame(MsgType type, uint16_t seq, const uint8_t* payload, size_t len,
                                  uint8_t version) {
  VectorSink sink;
  FrameWriter w(sink);
  w.begin(type, seq, static_cast<uint32_t>(len), version);
  w.put(payload, len);
  w.end();
  return std::move(sink.bytes);
}

const char* decode_error_name(DecodeError e) {
  switch (e) {
    case DecodeError::kNone: return "none";
    case DecodeError::kOversized: return "oversized";
    case DecodeError::kTruncated: return "truncated";
    case DecodeError::kTooShort: return "too-short";
    case DecodeError::kLengthMismatch: return "length-mismatch";
    case DecodeError::kBadCrc: return "bad-crc";
  }
  return "unknown";
}

FrameDecoder::FrameDecoder(size_t max_payload)
    : buf_(kHeaderSize + max_payload + kCrcSize), max_frame_(kHeaderSize + max_payload + kCrcSize) {}

void FrameDecoder::reset_block() {
  len_ = 0;
  remaining_ = 0;
  pending_zero_ = false;
  in_block_ = false;
  discarding_ = false;
  discard_reason_ = DecodeError::kNone;
}

FrameDecoder::Event FrameDecoder::push(uint8_t byte) {
  if (byte == 0) return finish();
  if (discarding_) return Event::kNone;
  if (!in_block_ || remaining_ == 0) {
    // A code byte: the block before it, if shorter than 254 data bytes, stood for a zero.
    if (pending_zero_) {
      if (len_ >= max_frame_) {
        discarding_ = true;
        discard_reason_ = DecodeError::kOversized;
        return Event::kNone;
      }
      buf_[len_++] = 0;
    }
    remaining_ = static_cast<uint8_t>(byte - 1);
    pending_zero_ = byte != 0xFF;
    in_block_ = true;
    return Event::kNone;
  }
  if (len_ >= max_frame_) {
    discarding_ = true;
    discard_reason_ = DecodeError::kOversized;
    return Event::kNone;
  }
  buf_[len_++] = byte;
  --remaining_;
  return Event::kNone;
}

FrameDecoder::Event FrameDecoder::finish() {
  if (!in_block_ && !discarding_) {
    reset_block();  // empty frame: two delimiters in a row, or a leading delimiter
    return Event::kNone;
  }
  DecodeError err = DecodeError::kNone;
  if (discarding_) {
    err = discard_reason_;
  } else if (remaining_ != 0) {
    err = DecodeError::kTruncated;
  } else if (len_ < kHeaderSize + kCrcSize) {
    err = DecodeError::kTooShort;
  } else {
    const uint8_t* b = buf_.data();
    header_.version = b[0];
    header_.type = b[1];
    header_.seq = static_cast<uint16_t>(b[2] | (b[3] << 8));
    header_.payload_len = static_cast<uint32_t>(b[4]) | (static_cast<uint32_t>(b[5]) << 8) |
                          (static_cast<uint32_t>(b[6]) << 16) | (static_cast<uint32_t>(b[7]) << 24);
    const size_t body = len_ - kCrcSize;
    if (header_.payload_len != body - kHeaderSize) {
      err = DecodeError::kLengthMismatch;
    } else {
      const uint32_t got = static_cast<uint32_t>(b[body]) | (static_cast<uint32_t>(b[body + 1]) << 8) |
                           (static_cast<uint32_t>(b[body + 2]) << 16) |
                           (static_cast<uint32_t>(b[body + 3]) << 24);
      if (sorter::crc32(b, body) != got) err = DecodeError::kBadCrc;
    }
  }
  reset_block();
  if (err != DecodeError::kNone) {
    error_ = err;
    ++frames_rejected_;
    return Event::kError;
  }
  ++frames_ok_;
  return Event::kFrame;
}

uint8_t PayloadReader::u8() {
  const uint8_t* b = bytes(1);
  return b ? b[0] : 0;
}

uint16_t PayloadReader::u16() {
  const uint8_t* b = bytes(2);
  return b ? static_cast<uint16_t>(b[0] | (b[1] << 8)) : 0;
}

uint32_t PayloadReader::u32() {
  const uint8_t* b = bytes(4);
  return b ? static_cast<uint32_t>(b[0]) | (static_cast<uint32_t>(b[1]) << 8) |
                 (static_cast<uint32_t>(b[2]) << 16) | (static_cast<uint32_t>(b[3]) << 24)
           : 0;
}

float PayloadReader::f32() {
  const uint32_t u = u32();
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

const uint8_t* PayloadReader::bytes(size_t n) {
  if (!ok_ || n > len_ - pos_) {
    ok_ = false;
    return nullptr;
  }
  const uint8_t* r = p_ + pos_;
  pos_ += n;
  return r;
}

}  // namespace sorter_link
