// Wire format of the sorter serial protocol (docs/protocol.md). The TypeScript codec in
// host/serial/protocol.ts implements the same constants; test/vectors/protocol-frames.json holds the
// golden frames both test suites check.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sorter_link {

constexpr uint8_t kProtocolVersion = 1;
constexpr size_t kHeaderSize = 8;  // version u8, type u8, seq u16 LE, payload length u32 LE
constexpr size_t kCrcSize = 4;     // CRC-32 (IEEE) LE over header + payload
// One INFER frame must hold a whole 224x224x3 int8 tensor (150,528 bytes); 160 KiB leaves room for
// larger requests without chunking. See docs/protocol.md for why INFER is not chunked.
constexpr size_t kMaxPayload = 160 * 1024;
constexpr size_t kMaxFrame = kHeaderSize + kMaxPayload + kCrcSize;
// DUMP_TENSOR frames carry at most this many tensor bytes each.
constexpr size_t kDumpChunk = 32 * 1024;
// Sequence number used for frames that answer no particular request (boot announcement).
constexpr uint16_t kSeqUnsolicited = 0xFFFF;

enum class MsgType : uint8_t {
  kHello = 0x01,
  kInfo = 0x02,
  kInfer = 0x03,
  kResult = 0x04,
  kDump = 0x05,
  kDumpTensor = 0x06,
  kDumpEnd = 0x07,
  kError = 0x08,
  kPing = 0x09,
  kPong = 0x0A,
};

enum class ErrorCode : uint16_t {
  kUnsupportedVersion = 1,
  kUnknownType = 2,
  kBadPayload = 3,
  kNotReady = 4,
  kInvokeFailed = 5,
  kNoDump = 6,
  kBusy = 7,
};

struct FrameHeader {
  uint8_t version;
  uint8_t type;
  uint16_t seq;
  uint32_t payload_len;
};

}  // namespace sorter_link
