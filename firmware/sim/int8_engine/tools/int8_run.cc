// int8-run MODEL.tflite INPUT.bin OUTPUT.bin [--rounding double|single|xnnpack] [--dump DIR] [--repeat N]
// Runs the int8 reference engine on raw input bytes and writes the raw output. INPUT.bin may hold
// several inputs back to back; OUTPUT.bin then holds their outputs in the same order.
// --dump DIR writes every operator's output as DIR/NNN.bin plus DIR/index.json (order, names, sizes).
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "int8_engine/engine.h"
#include "int8_engine/host_file.h"

namespace {

bool read_file(const std::string& path, std::vector<uint8_t>* out) {
  return int8_engine::read_regular_file(path, out);
}

bool write_file(const std::string& path, const uint8_t* data, size_t len) {
  std::ofstream f(path, std::ios::binary);
  if (!f) return false;
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(len));
  return static_cast<bool>(f);
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o.push_back('\\');
      o.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else {
      o.push_back(c);
    }
  }
  return o;
}

int usage() {
  std::fprintf(stderr,
               "usage: int8-run MODEL.tflite INPUT.bin OUTPUT.bin [--rounding double|single|xnnpack] [--dump DIR]\n"
               "  INPUT.bin holds the raw input tensor bytes (int8), or several inputs back to back;\n"
               "  OUTPUT.bin receives the raw outputs in the same order. --dump DIR (single input only)\n"
               "  writes each operator's output to DIR/NNN.bin and DIR/index.json.\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  std::string rounding = "double", dump_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounding" && i + 1 < argc) {
      rounding = argv[++i];
    } else if (a == "--dump" && i + 1 < argc) {
      dump_dir = argv[++i];
    } else if (a == "--help" || a == "-h") {
      return usage();
    } else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "int8-run: unknown option %s\n", a.c_str());
      return usage();
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() != 3) return usage();
  if (rounding != "single" && rounding != "double" && rounding != "xnnpack") {
    std::fprintf(stderr, "int8-run: --rounding must be 'double', 'single' or 'xnnpack', got '%s'\n", rounding.c_str());
    return 2;
  }
  std::vector<uint8_t> model, input;
  if (!read_file(pos[0], &model)) {
    std::fprintf(stderr, "int8-run: cannot read model %s: %s\n", pos[0].c_str(), std::strerror(errno));
    return 1;
  }
  if (!read_file(pos[1], &input)) {
    std::fprintf(stderr, "int8-run: cannot read input %s: %s\n", pos[1].c_str(), std::strerror(errno));
    return 1;
  }
  int8_engine::EngineClassifier engine;
  int8_engine::Rounding variant = int8_engine::Rounding::kDouble;
  if (!int8_engine::parse_rounding(rounding.c_str(), &variant)) {
    std::fprintf(stderr, "int8-run: --rounding must be double, single or xnnpack, got \"%s\"\n", rounding.c_str());
    return 2;
  }
  engine.set_rounding(variant);
  if (!engine.load(model.data(), model.size())) {
    std::fprintf(stderr, "int8-run: %s: %s\n", pos[0].c_str(), engine.last_error());
    return 1;
  }
  const size_t in_bytes = engine.input_bytes();
  if (in_bytes == 0 || input.empty() || input.size() % in_bytes != 0) {
    std::fprintf(stderr, "int8-run: %s has %zu bytes, not a multiple of the model input (%zu bytes)\n", pos[1].c_str(),
                 input.size(), in_bytes);
    return 1;
  }
  const size_t count = input.size() / in_bytes;
  if (!dump_dir.empty() && count != 1) {
    std::fprintf(stderr, "int8-run: --dump needs exactly one input, %s holds %zu\n", pos[1].c_str(), count);
    return 1;
  }
  std::vector<uint8_t> outputs;
  outputs.reserve(count * engine.output_bytes());
  for (size_t i = 0; i < count; ++i) {
    if (engine.invoke(input.data() + i * in_bytes, in_bytes) != sorter::Status::kOk) {
      std::fprintf(stderr, "int8-run: %s: %s\n", pos[1].c_str(), engine.last_error());
      return 1;
    }
    outputs.insert(outputs.end(), engine.output(), engine.output() + engine.output_bytes());
  }
  if (!write_file(pos[2], outputs.data(), outputs.size())) {
    std::fprintf(stderr, "int8-run: cannot write %s\n", pos[2].c_str());
    return 1;
  }
  if (!dump_dir.empty()) {
    std::error_code made;
    std::filesystem::create_directories(dump_dir, made);
    if (made) {
      std::fprintf(stderr, "int8-run: --dump %s: cannot create the folder (%s)\n", dump_dir.c_str(), made.message().c_str());
      return 1;
    }
    std::ostringstream index;
    index << "[\n";
    for (size_t i = 0; i < engine.dump_tensor_count(); ++i) {
      const int8_t* data = nullptr;
      size_t len = 0;
      const char* name = nullptr;
      engine.dump_tensor(i, &data, &len, &name);
      char file[32];
      std::snprintf(file, sizeof file, "%03zu.bin", i);
      if (!write_file(dump_dir + "/" + file, reinterpret_cast<const uint8_t*>(data), len)) {
        std::fprintf(stderr, "int8-run: cannot write %s/%s\n", dump_dir.c_str(), file);
        return 1;
      }
      index << "  {\"index\": " << i << ", \"name\": \"" << json_escape(name) << "\", \"file\": \"" << file
            << "\", \"bytes\": " << len << "}" << (i + 1 < engine.dump_tensor_count() ? "," : "") << "\n";
    }
    index << "]\n";
    const std::string s = index.str();
    if (!write_file(dump_dir + "/index.json", reinterpret_cast<const uint8_t*>(s.data()), s.size())) {
      std::fprintf(stderr, "int8-run: cannot write %s/index.json\n", dump_dir.c_str());
      return 1;
    }
  }
  return 0;
}
