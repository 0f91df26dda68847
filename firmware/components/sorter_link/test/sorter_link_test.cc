// Codec and dispatcher tests against the golden vectors shared with the TypeScript tests
// (test/vectors/protocol-frames.json), plus corruption sweeps that the vectors cannot enumerate.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "mini_json.h"
#include "sorter/checksum.h"
#include "sorter/classifier.h"
#include "sorter_link/dispatcher.h"
#include "sorter_link/frame.h"

using namespace sorter_link;
using Bytes = std::vector<uint8_t>;

static int g_failures = 0;
static int g_checks = 0;
#define CHECK(cond, ...)                                          \
  do {                                                            \
    ++g_checks;                                                   \
    if (!(cond)) {                                                \
      ++g_failures;                                               \
      std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                          \
      std::fprintf(stderr, "\n");                                 \
    }                                                             \
  } while (0)

static Bytes from_hex(const std::string& h) {
  Bytes out(h.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(std::stoul(h.substr(2 * i, 2), nullptr, 16));
  return out;
}

static std::string to_hex(const Bytes& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

struct Event {
  bool frame;
  std::string error;
  FrameHeader header{};
  Bytes payload;
};

static std::vector<Event> decode_all(FrameDecoder& dec, const Bytes& bytes) {
  std::vector<Event> out;
  for (uint8_t b : bytes) {
    const auto ev = dec.push(b);
    if (ev == FrameDecoder::Event::kFrame) {
      out.push_back({true, "", dec.header(), Bytes(dec.payload(), dec.payload() + dec.payload_len())});
    } else if (ev == FrameDecoder::Event::kError) {
      out.push_back({false, decode_error_name(dec.error()), {}, {}});
    }
  }
  return out;
}

// A Classifier described by value in the vectors file.
class FakeClassifier : public sorter::Classifier {
 public:
  explicit FakeClassifier(const mini_json::Value& d) {
    ready_ = d["ready"].b;
    last_error_ = d["lastError"].str;
    desc_.input_width = static_cast<uint16_t>(d["width"].integer());
    desc_.input_height = static_cast<uint16_t>(d["height"].integer());
    desc_.input_channels = static_cast<uint16_t>(d["channels"].integer());
    desc_.input_quant = {static_cast<float>(d["inputScale"].num), static_cast<int32_t>(d["inputZeroPoint"].integer())};
    desc_.output_quant = {static_cast<float>(d["outputScale"].num), static_cast<int32_t>(d["outputZeroPoint"].integer())};
    desc_.num_classes = static_cast<uint16_t>(d["scores"].size());
    desc_.arena_used_bytes = static_cast<uint32_t>(d["arenaUsedBytes"].integer());
    const Bytes sha = from_hex(d["modelSha256"].str);
    std::memcpy(desc_.model_sha256, sha.data(), 32);
    for (const auto& s : d["scores"].arr) scores_.push_back(static_cast<int8_t>(s.integer()));
    invoke_us_ = static_cast<uint32_t>(d["invokeUs"].integer());
    for (const auto& t : d["tensors"].arr) {
      names_.push_back(t["name"].str);
      std::vector<int8_t> data(static_cast<size_t>(t["length"].integer()));
      const long long mul = t["mul"].integer(), add = t["add"].integer();
      for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<int8_t>(static_cast<uint8_t>((i * mul + add) & 0xFF));
      tensors_.push_back(std::move(data));
    }
  }
  bool ready() const override { return ready_; }
  const char* last_error() const override { return last_error_.c_str(); }
  const sorter::ModelDescription& description() const override { return desc_; }
  sorter::Status classify(const int8_t* input, size_t input_len, int8_t* scores, size_t scores_len,
                          uint32_t* invoke_us) override {
    last_input.assign(input, input + input_len);
    if (scores_len != scores_.size()) return sorter::Status::kBadInput;
    std::memcpy(scores, scores_.data(), scores_len);
    *invoke_us = invoke_us_;
    return sorter::Status::kOk;
  }
  size_t dump_tensor_count() const override { return tensors_.size(); }
  sorter::Status dump_tensor(size_t index, const int8_t** data, size_t* len, const char** name) const override {
    if (index >= tensors_.size()) return sorter::Status::kNoSuchTensor;
    *data = tensors_[index].data();
    *len = tensors_[index].size();
    *name = names_[index].c_str();
    return sorter::Status::kOk;
  }
  std::vector<int8_t> last_input;

 private:
  bool ready_;
  std::string last_error_;
  sorter::ModelDescription desc_{};
  std::vector<int8_t> scores_;
  uint32_t invoke_us_;
  std::vector<std::string> names_;
  std::vector<std::vector<int8_t>> tensors_;
};

static void test_crc(const mini_json::Value& v) {
  for (const auto& c : v["crc32"].arr) {
    const std::string& in = c["asciiInput"].str;
    const uint32_t got = sorter::crc32(reinterpret_cast<const uint8_t*>(in.data()), in.size());
    CHECK(got == static_cast<uint32_t>(c["crc"].num), "crc32(%s) = %08x", in.c_str(), got);
  }
}

static void test_frames(const mini_json::Value& v) {
  for (const auto& f : v["frames"].arr) {
    const std::string& name = f["name"].str;
    const Bytes payload = from_hex(f["payloadHex"].str);
    const Bytes expected = from_hex(f["encodedHex"].str);
    const Bytes got = encode_frame(static_cast<MsgType>(f["type"].integer()), static_cast<uint16_t>(f["seq"].integer()),
                                   payload.data(), payload.size(), static_cast<uint8_t>(f["version"].integer()));
    CHECK(got == expected, "%s: encoded %s", name.c_str(), to_hex(got).c_str());
    FrameDecoder dec;
    Bytes stream{0};  // a leading delimiter is ignored
    stream.insert(stream.end(), expected.begin(), expected.end());
    const auto evs = decode_all(dec, stream);
    CHECK(evs.size() == 1 && evs[0].frame, "%s: expected one frame, got %zu events", name.c_str(), evs.size());
    if (evs.size() == 1 && evs[0].frame) {
      CHECK(evs[0].header.version == f["version"].integer() && evs[0].header.type == f["type"].integer() &&
                evs[0].header.seq == f["seq"].integer() && evs[0].payload == payload,
            "%s: decoded header/payload differ", name.c_str());
    }
  }
}

static void test_streams(const mini_json::Value& v) {
  for (const auto& s : v["streams"].arr) {
    const std::string& name = s["name"].str;
    Bytes bytes;
    for (const auto& seg : s["segments"].arr) {
      if (seg.has("hex")) {
        const Bytes b = from_hex(seg["hex"].str);
        bytes.insert(bytes.end(), b.begin(), b.end());
      } else {
        bytes.insert(bytes.end(), static_cast<size_t>(seg["count"].integer()), static_cast<uint8_t>(seg["fill"].integer()));
      }
    }
    FrameDecoder dec;
    const auto evs = decode_all(dec, bytes);
    const auto& want = s["events"].arr;
    CHECK(evs.size() == want.size(), "%s: %zu events, want %zu", name.c_str(), evs.size(), want.size());
    for (size_t i = 0; i < evs.size() && i < want.size(); ++i) {
      if (want[i].has("error")) {
        CHECK(!evs[i].frame && evs[i].error == want[i]["error"].str, "%s[%zu]: got %s, want error %s", name.c_str(), i,
              evs[i].frame ? "frame" : evs[i].error.c_str(), want[i]["error"].str.c_str());
      } else {
        const auto& wf = want[i]["frame"];
        CHECK(evs[i].frame && evs[i].header.seq == wf["seq"].integer() && evs[i].header.type == wf["type"].integer() &&
                  evs[i].payload == from_hex(wf["payloadHex"].str),
              "%s[%zu]: frame differs (%s)", name.c_str(), i, evs[i].error.c_str());
      }
    }
  }
}

static void test_exchanges(const mini_json::Value& v) {
  for (const auto& x : v["exchanges"].arr) {
    const std::string& name = x["name"].str;
    const auto& dev = v["devices"][x["device"].str];
    FakeClassifier fake(dev);
    std::vector<std::string> labels;
    for (const auto& l : dev["labels"].arr) labels.push_back(l.str);
    std::vector<const char*> label_ptrs;
    for (const auto& l : labels) label_ptrs.push_back(l.c_str());
    const std::string fw = dev["firmwareVersion"].str;
    DeviceIdentity id;
    id.firmware_version = fw.c_str();
    id.labels = label_ptrs.data();
    id.num_labels = label_ptrs.size();
    id.boot_id = static_cast<uint32_t>(dev["bootId"].num);
    VectorSink sink;
    Dispatcher dispatcher(fake, id, sink);
    const Bytes req = from_hex(x["requestHex"].str);
    dispatcher.feed(req.data(), req.size());
    Bytes want;
    for (const auto& r : x["responsesHex"].arr) {
      const Bytes b = from_hex(r.str);
      want.insert(want.end(), b.begin(), b.end());
    }
    CHECK(sink.bytes == want, "%s: dispatcher answered %zu bytes, want %zu; first difference at %zu", name.c_str(),
          sink.bytes.size(), want.size(), [&] {
            size_t i = 0;
            while (i < sink.bytes.size() && i < want.size() && sink.bytes[i] == want[i]) ++i;
            return i;
          }());
  }
}

// Deterministic PRNG so failures reproduce.
static uint32_t g_rng = 0x12345678u;
static uint32_t rnd() {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 17;
  g_rng ^= g_rng << 5;
  return g_rng;
}

static void test_round_trip_sizes() {
  const size_t sizes[] = {0, 1, 253, 254, 255, 507, 508, 509, 1000, 150528, kMaxPayload};
  FrameDecoder dec;
  for (size_t n : sizes) {
    Bytes p(n);
    for (auto& b : p) b = (rnd() % 5 == 0) ? 0 : static_cast<uint8_t>(rnd());
    const Bytes f = encode_frame(MsgType::kInfer, static_cast<uint16_t>(n), p.data(), p.size());
    CHECK(std::count(f.begin(), f.end(), 0) == 1 && f.back() == 0, "size %zu: zero inside frame", n);
    const auto evs = decode_all(dec, f);
    CHECK(evs.size() == 1 && evs[0].frame && evs[0].payload == p, "size %zu: round trip failed", n);
  }
  // One byte over the maximum payload is rejected, and the next frame still decodes.
  Bytes big(kMaxPayload + 1, 7);
  Bytes stream = encode_frame(MsgType::kInfer, 1, big.data(), big.size());
  const Bytes ok = encode_frame(MsgType::kPing, 2, big.data(), 10);
  stream.insert(stream.end(), ok.begin(), ok.end());
  const auto evs = decode_all(dec, stream);
  CHECK(evs.size() == 2 && !evs[0].frame && evs[0].error == "oversized" && evs[1].frame && evs[1].header.seq == 2,
        "oversized frame then good frame");
}

static void test_corruption_sweep() {
  Bytes p(600);
  for (auto& b : p) b = static_cast<uint8_t>(rnd());
  const Bytes f = encode_frame(MsgType::kInfer, 99, p.data(), p.size());
  const Bytes next = encode_frame(MsgType::kPing, 100, p.data(), 16);
  FrameDecoder dec;
  int accepted_corrupt = 0, lost_next = 0;
  // Every single-bit flip of every byte before the delimiter.
  for (size_t i = 0; i + 1 < f.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes s = f;
      s[i] ^= static_cast<uint8_t>(1u << bit);
      s.insert(s.end(), next.begin(), next.end());
      const auto evs = decode_all(dec, s);
      for (const auto& e : evs) {
        if (e.frame && e.header.seq == 99) ++accepted_corrupt;
      }
      if (evs.empty() || !evs.back().frame || evs.back().header.seq != 100) ++lost_next;
    }
  }
  CHECK(accepted_corrupt == 0, "%d bit-flipped frames accepted", accepted_corrupt);
  CHECK(lost_next == 0, "%d following frames lost after a bit flip", lost_next);
  // Every truncation point, the cut frame terminated by a delimiter.
  int accepted_cut = 0;
  lost_next = 0;
  for (size_t cut = 1; cut + 1 < f.size(); ++cut) {
    Bytes s(f.begin(), f.begin() + static_cast<long>(cut));
    s.push_back(0);
    s.insert(s.end(), next.begin(), next.end());
    const auto evs = decode_all(dec, s);
    for (const auto& e : evs) {
      if (e.frame && e.header.seq == 99) ++accepted_cut;
    }
    if (evs.empty() || !evs.back().frame || evs.back().header.seq != 100) ++lost_next;
  }
  CHECK(accepted_cut == 0 && lost_next == 0, "truncation: %d accepted, %d next lost", accepted_cut, lost_next);
}

int main() {
  try {
    const mini_json::Value v = mini_json::parse_file(PROTOCOL_VECTORS);
    CHECK(v["protocolVersion"].integer() == kProtocolVersion, "protocol version");
    CHECK(static_cast<size_t>(v["maxPayload"].integer()) == kMaxPayload, "max payload");
    CHECK(static_cast<size_t>(v["dumpChunk"].integer()) == kDumpChunk, "dump chunk");
    test_crc(v);
    test_frames(v);
    test_streams(v);
    test_exchanges(v);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL: %s\n", e.what());
    return 1;
  }
  test_round_trip_sizes();
  test_corruption_sweep();
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
