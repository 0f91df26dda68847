#include "int8_engine/model.h"

#include <cstring>

#include "int8_engine/flatbuffer.h"

namespace int8_engine {

namespace {

// Field ids from the TFLite schema (schema.fbs).
namespace model_f { enum { kVersion = 0, kOperatorCodes = 1, kSubgraphs = 2, kBuffers = 4, kMetadata = 6 }; }
namespace opcode_f { enum { kDeprecatedBuiltinCode = 0, kBuiltinCode = 3 }; }
namespace subgraph_f { enum { kTensors = 0, kInputs = 1, kOutputs = 2, kOperators = 3 }; }
namespace tensor_f { enum { kShape = 0, kType = 1, kBuffer = 2, kName = 3, kQuantization = 4 }; }
namespace quant_f { enum { kScale = 2, kZeroPoint = 3, kQuantizedDimension = 6 }; }
namespace op_f { enum { kOpcodeIndex = 0, kInputs = 1, kOutputs = 2, kBuiltinOptions = 4 }; }
namespace buffer_f { enum { kData = 0, kOffset = 1, kSize = 2 }; }
namespace metadata_f { enum { kName = 0, kBuffer = 1 }; }

constexpr uint32_t kMaxTensors = 1u << 16;
constexpr uint32_t kMaxOps = 1u << 14;
constexpr uint32_t kMaxRank = 6;
constexpr uint64_t kMaxElements = uint64_t{1} << 28;

size_t type_size(TensorType t) {
  switch (t) {
    case TensorType::kFloat32: return 4;
    case TensorType::kInt32: return 4;
    case TensorType::kUInt8: return 1;
    case TensorType::kInt64: return 8;
    case TensorType::kInt16: return 2;
    case TensorType::kInt8: return 1;
  }
  return 0;
}

bool known_type(int8_t t) { return t == 0 || t == 2 || t == 3 || t == 4 || t == 7 || t == 9; }

bool read_int_vector(const fb::Vec& v, std::vector<int32_t>* out) {
  out->clear();
  if (!v.present) return true;
  if (v.count > kMaxTensors) return false;
  out->reserve(v.count);
  for (uint32_t i = 0; i < v.count; ++i) out->push_back(v.scalar<int32_t>(i));
  return true;
}

Activation activation_from(int8_t v, bool* ok) {
  switch (v) {
    case 0: return Activation::kNone;
    case 1: return Activation::kRelu;
    case 2: return Activation::kReluN1To1;
    case 3: return Activation::kRelu6;
    default: *ok = false; return Activation::kNone;
  }
}

struct BufferRef {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

}  // namespace

const char* op_name(int32_t code) {
  switch (code) {
    case kOpAdd: return "ADD";
    case kOpAveragePool2D: return "AVERAGE_POOL_2D";
    case kOpConv2D: return "CONV_2D";
    case kOpDepthwiseConv2D: return "DEPTHWISE_CONV_2D";
    case kOpDequantize: return "DEQUANTIZE";
    case kOpFullyConnected: return "FULLY_CONNECTED";
    case kOpMaxPool2D: return "MAX_POOL_2D";
    case kOpRelu: return "RELU";
    case kOpRelu6: return "RELU6";
    case kOpReshape: return "RESHAPE";
    case kOpSoftmax: return "SOFTMAX";
    case kOpPad: return "PAD";
    case kOpMean: return "MEAN";
    case kOpSqueeze: return "SQUEEZE";
    case kOpQuantize: return "QUANTIZE";
    default: return "UNSUPPORTED";
  }
}

bool parse_model(const uint8_t* data, size_t size, ParsedModel* out, std::string* error) {
  *out = ParsedModel{};
  auto fail = [&](const std::string& why) {
    *error = why;
    return false;
  };
  if (data == nullptr || size < 8) return fail("model is too short to be a .tflite flatbuffer");
  fb::Reader r(data, size);
  const fb::Table model = r.root();
  if (!model.present) return fail("model root offset or vtable is out of bounds");
  out->version = model.scalar<uint32_t>(model_f::kVersion, 0);

  // Buffers.
  std::vector<BufferRef> buffers;
  const fb::Vec bufs = model.vec(model_f::kBuffers, 4);
  if (bufs.count > (1u << 20)) return fail("too many buffers");
  buffers.resize(bufs.count);
  for (uint32_t i = 0; i < bufs.count; ++i) {
    const fb::Table b = bufs.table(i);
    if (!b.present) return fail("buffer " + std::to_string(i) + " is malformed");
    const fb::Vec d = b.vec(buffer_f::kData, 1);
    if (d.present) {
      buffers[i].data = d.bytes();
      buffers[i].size = d.count;
    } else {
      const uint64_t off = b.scalar<uint64_t>(buffer_f::kOffset, 0);
      const uint64_t sz = b.scalar<uint64_t>(buffer_f::kSize, 0);
      if (off > 1) {  // data stored after the flatbuffer, at a file offset
        if (off > size || sz > size - off) return fail("buffer " + std::to_string(i) + " offset/size outside the file");
        buffers[i].data = data + off;
        buffers[i].size = static_cast<size_t>(sz);
      }
    }
  }

  // Metadata: look for the 'plastisort' entry.
  const fb::Vec meta = model.vec(model_f::kMetadata, 4);
  for (uint32_t i = 0; i < meta.count && i < 1024; ++i) {
    const fb::Table m = meta.table(i);
    const char* name = nullptr;
    uint32_t len = 0;
    if (!m.present || !m.string(metadata_f::kName, &name, &len)) continue;
    if (len == 10 && std::memcmp(name, "plastisort", 10) == 0) {
      const uint32_t bi = m.scalar<uint32_t>(metadata_f::kBuffer, 0);
      if (bi < buffers.size() && buffers[bi].data) {
        out->plastisort_metadata.assign(reinterpret_cast<const char*>(buffers[bi].data), buffers[bi].size);
      }
    }
  }

  // Operator codes.
  std::vector<int32_t> codes;
  const fb::Vec opcodes = model.vec(model_f::kOperatorCodes, 4);
  if (opcodes.count > 4096) return fail("too many operator codes");
  for (uint32_t i = 0; i < opcodes.count; ++i) {
    const fb::Table oc = opcodes.table(i);
    if (!oc.present) return fail("operator code " + std::to_string(i) + " is malformed");
    const int32_t dep = oc.scalar<int8_t>(opcode_f::kDeprecatedBuiltinCode, 0);
    const int32_t code = oc.scalar<int32_t>(opcode_f::kBuiltinCode, 0);
    codes.push_back(dep > code ? dep : code);
  }

  const fb::Vec subgraphs = model.vec(model_f::kSubgraphs, 4);
  if (subgraphs.count < 1) return fail("model has no subgraph");
  const fb::Table sg = subgraphs.table(0);
  if (!sg.present) return fail("subgraph 0 is malformed");

  const fb::Vec tensors = sg.vec(subgraph_f::kTensors, 4);
  if (tensors.count == 0 || tensors.count > kMaxTensors) return fail("subgraph has no tensors or too many");
  out->tensors.resize(tensors.count);
  for (uint32_t i = 0; i < tensors.count; ++i) {
    TensorInfo& t = out->tensors[i];
    const fb::Table tt = tensors.table(i);
    const std::string where = "tensor " + std::to_string(i);
    if (!tt.present) return fail(where + " is malformed");
    const char* name = nullptr;
    uint32_t name_len = 0;
    if (tt.string(tensor_f::kName, &name, &name_len)) t.name.assign(name, name_len > 256 ? 256 : name_len);
    const int8_t type = tt.scalar<int8_t>(tensor_f::kType, 0);
    if (!known_type(type)) return fail(where + " ('" + t.name + "') has unsupported type " + std::to_string(type));
    t.type = static_cast<TensorType>(type);
    const fb::Vec shape = tt.vec(tensor_f::kShape, 4);
    if (shape.count > kMaxRank) return fail(where + " has rank above 6");
    uint64_t elements = 1;
    for (uint32_t d = 0; d < shape.count; ++d) {
      const int32_t dim = shape.scalar<int32_t>(d);
      if (dim < 0 || dim > (1 << 24)) return fail(where + " ('" + t.name + "') has an invalid dimension");
      t.shape.push_back(dim);
      elements *= static_cast<uint64_t>(dim);
      if (elements > kMaxElements) return fail(where + " ('" + t.name + "') is too large");
    }
    t.elements = static_cast<size_t>(elements);
    t.bytes = t.elements * type_size(t.type);
    const fb::Table q = tt.table(tensor_f::kQuantization);
    if (q.present) {
      const fb::Vec scales = q.vec(quant_f::kScale, 4);
      const fb::Vec zps = q.vec(quant_f::kZeroPoint, 8);
      if (scales.count > (1u << 16) || zps.count > (1u << 16)) return fail(where + " has too many scales");
      for (uint32_t k = 0; k < scales.count; ++k) t.scales.push_back(scales.scalar<float>(k));
      for (uint32_t k = 0; k < zps.count; ++k) t.zero_points.push_back(zps.scalar<int64_t>(k));
      t.quantized_dimension = q.scalar<int32_t>(quant_f::kQuantizedDimension, 0);
      if (t.type == TensorType::kInt8) {
        for (int64_t zp : t.zero_points) {
          if (zp < -128 || zp > 127) return fail(where + " ('" + t.name + "') has an int8 zero point outside [-128, 127]");
        }
      }
    }
    const uint32_t bi = tt.scalar<uint32_t>(tensor_f::kBuffer, 0);
    if (bi >= buffers.size() && bi != 0) return fail(where + " points at a missing buffer");
    if (bi != 0 && buffers[bi].data != nullptr && buffers[bi].size > 0) {
      if (buffers[bi].size != t.bytes) {
        return fail(where + " ('" + t.name + "') constant data has " + std::to_string(buffers[bi].size) +
                    " bytes, its shape needs " + std::to_string(t.bytes));
      }
      t.constant = buffers[bi].data;
    }
  }

  auto valid_tensor = [&](int32_t idx) { return idx >= 0 && static_cast<size_t>(idx) < out->tensors.size(); };
  if (!read_int_vector(sg.vec(subgraph_f::kInputs, 4), &out->inputs) ||
      !read_int_vector(sg.vec(subgraph_f::kOutputs, 4), &out->outputs)) {
    return fail("subgraph inputs/outputs are malformed");
  }
  if (out->inputs.empty() || out->outputs.empty()) return fail("subgraph has no input or no output");
  for (int32_t idx : out->inputs) if (!valid_tensor(idx)) return fail("subgraph input index out of range");
  for (int32_t idx : out->outputs) if (!valid_tensor(idx)) return fail("subgraph output index out of range");

  const fb::Vec ops = sg.vec(subgraph_f::kOperators, 4);
  if (ops.count > kMaxOps) return fail("too many operators");
  out->ops.resize(ops.count);
  for (uint32_t i = 0; i < ops.count; ++i) {
    OpInfo& op = out->ops[i];
    const std::string where = "operator " + std::to_string(i);
    const fb::Table ot = ops.table(i);
    if (!ot.present) return fail(where + " is malformed");
    const uint32_t ci = ot.scalar<uint32_t>(op_f::kOpcodeIndex, 0);
    if (ci >= codes.size()) return fail(where + " has an opcode index out of range");
    op.code = codes[ci];
    if (!read_int_vector(ot.vec(op_f::kInputs, 4), &op.inputs) ||
        !read_int_vector(ot.vec(op_f::kOutputs, 4), &op.outputs)) {
      return fail(where + " inputs/outputs are malformed");
    }
    for (int32_t idx : op.inputs) if (idx != -1 && !valid_tensor(idx)) return fail(where + " input index out of range");
    for (int32_t idx : op.outputs) if (!valid_tensor(idx)) return fail(where + " output index out of range");
    const fb::Table o = ot.table(op_f::kBuiltinOptions);
    bool ok = true;
    auto padding_from = [&](int8_t v) {
      if (v != 0 && v != 1) ok = false;
      return v == 1 ? Padding::kValid : Padding::kSame;
    };
    switch (op.code) {
      case kOpConv2D:
        op.padding = padding_from(o.scalar<int8_t>(0, 0));
        op.stride_w = o.scalar<int32_t>(1, 0);
        op.stride_h = o.scalar<int32_t>(2, 0);
        op.activation = activation_from(o.scalar<int8_t>(3, 0), &ok);
        op.dilation_w = o.scalar<int32_t>(4, 1);
        op.dilation_h = o.scalar<int32_t>(5, 1);
        break;
      case kOpDepthwiseConv2D:
        op.padding = padding_from(o.scalar<int8_t>(0, 0));
        op.stride_w = o.scalar<int32_t>(1, 0);
        op.stride_h = o.scalar<int32_t>(2, 0);
        op.depth_multiplier = o.scalar<int32_t>(3, 0);
        op.activation = activation_from(o.scalar<int8_t>(4, 0), &ok);
        op.dilation_w = o.scalar<int32_t>(5, 1);
        op.dilation_h = o.scalar<int32_t>(6, 1);
        break;
      case kOpAveragePool2D:
      case kOpMaxPool2D:
        op.padding = padding_from(o.scalar<int8_t>(0, 0));
        op.stride_w = o.scalar<int32_t>(1, 0);
        op.stride_h = o.scalar<int32_t>(2, 0);
        op.filter_w = o.scalar<int32_t>(3, 0);
        op.filter_h = o.scalar<int32_t>(4, 0);
        op.activation = activation_from(o.scalar<int8_t>(5, 0), &ok);
        break;
      case kOpFullyConnected:
        op.activation = activation_from(o.scalar<int8_t>(0, 0), &ok);
        op.keep_dims = o.scalar<uint8_t>(2, 0) != 0;
        break;
      case kOpAdd:
        op.activation = activation_from(o.scalar<int8_t>(0, 0), &ok);
        break;
      case kOpSoftmax:
        op.beta = o.scalar<float>(0, 0.0f);
        break;
      case kOpMean:
        op.keep_dims = o.scalar<uint8_t>(0, 0) != 0;
        break;
      default:
        break;
    }
    if (!ok) return fail(where + " (" + op_name(op.code) + ") has an invalid padding or activation option");
  }
  if (!r.ok()) return fail("model flatbuffer has out-of-bounds offsets");
  return true;
}

std::vector<std::string> parse_labels_json(const std::string& json) {
  // A small scanner: find the "labels" key at any depth, then read a flat array of JSON strings.
  std::vector<std::string> labels;
  const std::string key = "\"labels\"";
  size_t p = json.find(key);
  if (p == std::string::npos) return labels;
  p += key.size();
  while (p < json.size() && (json[p] == ' ' || json[p] == '\n' || json[p] == '\r' || json[p] == '\t')) ++p;
  if (p >= json.size() || json[p] != ':') return labels;
  ++p;
  while (p < json.size() && (json[p] == ' ' || json[p] == '\n' || json[p] == '\r' || json[p] == '\t')) ++p;
  if (p >= json.size() || json[p] != '[') return labels;
  ++p;
  while (p < json.size()) {
    while (p < json.size() && (json[p] == ' ' || json[p] == ',' || json[p] == '\n' || json[p] == '\r' || json[p] == '\t')) ++p;
    if (p >= json.size()) return {};
    if (json[p] == ']') return labels;
    if (json[p] != '"') return {};
    ++p;
    std::string s;
    while (p < json.size() && json[p] != '"') {
      char c = json[p++];
      if (c == '\\' && p < json.size()) {
        const char e = json[p++];
        switch (e) {
          case 'n': c = '\n'; break;
          case 't': c = '\t'; break;
          case 'r': c = '\r'; break;
          case 'b': c = '\b'; break;
          case 'f': c = '\f'; break;
          case 'u': {
            // Decode \uXXXX (BMP only) to UTF-8.
            if (p + 4 > json.size()) return {};
            unsigned cp = 0;
            for (int k = 0; k < 4; ++k) {
              const char h = json[p++];
              cp <<= 4;
              if (h >= '0' && h <= '9') cp |= static_cast<unsigned>(h - '0');
              else if (h >= 'a' && h <= 'f') cp |= static_cast<unsigned>(h - 'a' + 10);
              else if (h >= 'A' && h <= 'F') cp |= static_cast<unsigned>(h - 'A' + 10);
              else return {};
            }
            if (cp < 0x80) {
              s.push_back(static_cast<char>(cp));
            } else if (cp < 0x800) {
              s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
              s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
            } else {
              s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
              s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
              s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
            }
            continue;
          }
          default: c = e; break;
        }
      }
      s.push_back(c);
    }
    if (p >= json.size()) return {};
    ++p;  // closing quote
    labels.push_back(s);
    if (labels.size() > 4096) return {};
  }
  return {};
}

}  // namespace int8_engine
