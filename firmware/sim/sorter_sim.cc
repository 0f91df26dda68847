// sorter-sim: serves the sorter serial protocol (docs/protocol.md) from the firmware's own dispatcher
// over the int8 reference engine, so the host can run HIL against it exactly as against the board.
//
//   sorter-sim --model FILE.tflite [--pty | --stdio] [--baud N] [--rounding double|single|xnnpack]
//
// --pty (default) opens a pseudo-terminal and prints its path as the first line on stdout.
// --baud N makes both directions take 10 bits per byte at N baud, like a UART (8N1).
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "int8_engine/engine.h"
#include "int8_engine/host_file.h"
#include "sorter_link/dispatcher.h"
#include "sorter_link/frame.h"

namespace {

using Clock = std::chrono::steady_clock;

const char kUsage[] =
    "usage: sorter-sim --model FILE.tflite [--pty | --stdio] [--baud N] [--rounding double|single|xnnpack]\n"
    "  --model FILE      int8 .tflite to serve (the int8 reference engine runs it)\n"
    "  --pty             serve on a new pseudo-terminal; its path is the first line on stdout (default)\n"
    "  --stdio           serve on stdin/stdout (diagnostics go to stderr)\n"
    "  --baud N          throttle both directions to N baud, 10 bits per byte (default: unthrottled)\n"
    "  --rounding MODE   requantization arithmetic: double (default; TFLM's, what esp-tflite-micro computes on\n"
    "                    the ESP32-S3), single (a TFLM build with TFLITE_SINGLE_ROUNDING), or xnnpack (desktop\n"
    "                    LiteRT's XNNPACK delegate; not what the device computes)\n";

// Emulates a UART's byte rate: each call accounts for n bytes and sleeps until the line would have
// carried them.
class Throttle {
 public:
  explicit Throttle(long baud) : baud_(baud) {}
  void pace(size_t n) {
    if (baud_ <= 0 || n == 0) return;
    const auto now = Clock::now();
    // Behind schedule by a little: this thread was descheduled while the line kept running, so keep
    // the debt and catch up. Behind by a lot: the line was idle, start afresh.
    if (next_ + std::chrono::milliseconds(50) < now) next_ = now;
    next_ += std::chrono::nanoseconds(static_cast<long long>(n) * 10LL * 1000000000LL / baud_);
    std::this_thread::sleep_until(next_);
  }

 private:
  long baud_;
  Clock::time_point next_{};
};

class FdSink : public sorter_link::ByteSink {
 public:
  FdSink(int fd, long baud) : fd_(fd), throttle_(baud), chunk_(baud > 0 ? 64 : 65536) {}
  void write(const uint8_t* data, size_t len) override {
    std::lock_guard<std::mutex> lock(mu_);
    while (len > 0) {
      const size_t n = std::min(len, chunk_);
      throttle_.pace(n);
      size_t off = 0;
      while (off < n) {
        const ssize_t w = ::write(fd_, data + off, n - off);
        if (w < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN) {
            usleep(1000);
            continue;
          }
          return;  // host gone: drop, it retries on reconnect
        }
        off += static_cast<size_t>(w);
      }
      data += n;
      len -= n;
    }
  }

 private:
  int fd_;
  Throttle throttle_;
  size_t chunk_;
  std::mutex mu_;
};

struct Request {
  sorter_link::FrameHeader header;
  std::vector<uint8_t> payload;
};

// Frames decoded by the reader thread wait here for the worker: the next INFER can arrive while the
// engine computes, as on the device where the UART driver buffers during an invoke.
class RequestQueue {
 public:
  explicit RequestQueue(size_t capacity) : capacity_(capacity) {}
  void push(Request r) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return q_.size() < capacity_; });
    q_.push_back(std::move(r));
    not_empty_.notify_one();
  }
  bool pop(Request* r) {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    *r = std::move(q_.front());
    q_.pop_front();
    not_full_.notify_one();
    return true;
  }
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  size_t capacity_;
  std::deque<Request> q_;
  bool closed_ = false;
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
};

bool read_file(const std::string& path, std::vector<uint8_t>* out) {
  return int8_engine::read_regular_file(path, out);
}

// On a pty the protocol does not use stdin, which is a pipe from the host (node gives a child a socket
// pair): its end (EOF) means the host is gone, even when it was killed with SIGKILL and could not stop
// us. Started by hand (stdin a terminal or /dev/null), the simulator keeps serving.
void exit_when_host_closes_stdin() {
  struct stat st {};
  if (fstat(0, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) return;
  std::thread([] {
    char buf[256];
    for (;;) {
      const ssize_t n = ::read(0, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) _exit(0);
    }
  }).detach();
}

uint32_t fresh_boot_id() {
  std::random_device rd;
  uint32_t id = rd() ^ static_cast<uint32_t>(getpid()) ^
                static_cast<uint32_t>(Clock::now().time_since_epoch().count());
  return id == 0 ? 1 : id;
}

void make_raw(int fd) {
  termios t{};
  if (tcgetattr(fd, &t) != 0) return;
  cfmakeraw(&t);
  tcsetattr(fd, TCSANOW, &t);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path;
  bool use_pty = true;
  long baud = 0;
  int8_engine::Rounding rounding = int8_engine::Rounding::kDouble;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "sorter-sim: %s needs a value\n%s", name, kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--model") {
      model_path = value("--model");
    } else if (a == "--pty") {
      use_pty = true;
    } else if (a == "--stdio") {
      use_pty = false;
    } else if (a == "--baud") {
      const std::string v = value("--baud");
      char* end = nullptr;
      baud = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || baud <= 0) {
        std::fprintf(stderr, "sorter-sim: --baud must be a positive whole number, got \"%s\"\n", v.c_str());
        return 2;
      }
    } else if (a == "--rounding") {
      const std::string v = value("--rounding");
      if (!int8_engine::parse_rounding(v.c_str(), &rounding)) {
        std::fprintf(stderr, "sorter-sim: --rounding must be double, single or xnnpack, got \"%s\"\n", v.c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr, "sorter-sim: unknown argument \"%s\"\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (model_path.empty()) {
    std::fprintf(stderr, "sorter-sim: --model FILE.tflite is required\n%s", kUsage);
    return 2;
  }
  std::vector<uint8_t> model;
  if (!read_file(model_path, &model)) {
    std::fprintf(stderr, "sorter-sim: cannot read model %s: %s\n", model_path.c_str(), std::strerror(errno));
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);

  int8_engine::EngineClassifier engine;
  engine.set_rounding(rounding);
  // Like the device, a model that does not load leaves the protocol running, reporting "not ready"
  // with the reason, so the host can say what is wrong.
  if (!engine.load(model.data(), model.size())) {
    std::fprintf(stderr, "sorter-sim: model %s not loaded: %s\n", model_path.c_str(), engine.last_error());
  }

  int in_fd = 0, out_fd = 1, slave_fd = -1;
  if (use_pty) {
    const int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
      std::fprintf(stderr, "sorter-sim: cannot open a pseudo-terminal: %s\n", std::strerror(errno));
      return 1;
    }
    const char* name = ptsname(master);
    if (!name) {
      std::fprintf(stderr, "sorter-sim: ptsname failed: %s\n", std::strerror(errno));
      return 1;
    }
    // Holding the slave open keeps the master readable when a host disconnects (no EIO), lets a
    // host reconnect, and makes the line raw before anything is written (no echo, no CR/LF mapping).
    slave_fd = open(name, O_RDWR | O_NOCTTY);
    if (slave_fd >= 0) make_raw(slave_fd);
    make_raw(master);
    in_fd = out_fd = master;
    std::printf("%s\n", name);
    std::fflush(stdout);
    exit_when_host_closes_stdin();
  }

  const std::string fw = std::string("sorter-sim 0.1.0 (int8 reference engine, ") +
                         int8_engine::rounding_name(rounding) + " rounding)";
  std::vector<const char*> labels;
  for (const auto& l : engine.labels()) labels.push_back(l.c_str());
  sorter_link::DeviceIdentity id;
  id.firmware_version = fw.c_str();
  id.labels = labels.data();
  id.num_labels = labels.size();
  id.boot_id = fresh_boot_id();

  FdSink sink(out_fd, baud);
  sorter_link::Dispatcher dispatcher(engine, id, sink);
  std::fprintf(stderr, "sorter-sim: serving %s (%s rounding, %s%s)\n", model_path.c_str(),
               int8_engine::rounding_name(rounding), use_pty ? "pty" : "stdio",
               baud > 0 ? (", " + std::to_string(baud) + " baud").c_str() : "");
  dispatcher.announce();

  RequestQueue queue(2);
  std::thread reader([&] {
    Throttle throttle(baud);
    sorter_link::FrameDecoder decoder;
    std::vector<uint8_t> buf(baud > 0 ? 1024 : 65536);
    for (;;) {
      const ssize_t n = ::read(in_fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EIO && use_pty) {
        // No slave open (we could not hold one): wait for a host.
        usleep(10000);
        continue;
      }
      if (n <= 0) break;
      throttle.pace(static_cast<size_t>(n));
      for (ssize_t i = 0; i < n; ++i) {
        const auto ev = decoder.push(buf[static_cast<size_t>(i)]);
        if (ev == sorter_link::FrameDecoder::Event::kFrame) {
          queue.push(Request{decoder.header(),
                             std::vector<uint8_t>(decoder.payload(), decoder.payload() + decoder.payload_len())});
        } else if (ev == sorter_link::FrameDecoder::Event::kError) {
          // Like the device, drop the frame (the host retries); say why for whoever debugs the link.
          std::fprintf(stderr, "sorter-sim: rejected a frame (%s)\n", sorter_link::decode_error_name(decoder.error()));
        }
      }
    }
    queue.close();
  });

  Request r;
  while (queue.pop(&r)) dispatcher.handle(r.header, r.payload.data(), r.payload.size());
  reader.join();
  if (slave_fd >= 0) close(slave_fd);
  return 0;
}
