#include "int8_engine/engine.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <cmath>
#include <cstring>

#include "int8_engine/fixed_point.h"
#include "int8_engine/kernels.h"
#include "int8_engine/model.h"
#include "int8_engine/sha256.h"

namespace int8_engine {

const char* rounding_name(Rounding r) {
  switch (r) {
    case Rounding::kSingle: return "single";
    case Rounding::kXnnpack: return "xnnpack";
    default: return "double";
  }
}

bool parse_rounding(const char* name, Rounding* r) {
  const std::string n = name ? name : "";
  if (n == "double") *r = Rounding::kDouble;
  else if (n == "single") *r = Rounding::kSingle;
  else if (n == "xnnpack") *r = Rounding::kXnnpack;
  else return false;
  return true;
}

namespace {

constexpr uint64_t kMaxActivationBytes = uint64_t{256} << 20;
#ifndef INT8_ENGINE_MAX_MACS
#define INT8_ENGINE_MAX_MACS 2e10
#endif
constexpr double kMaxMacs = INT8_ENGINE_MAX_MACS;

struct PreparedOp {
  const OpInfo* op = nullptr;
  kernels::Shape4 in, in2, filter, out;
  kernels::ConvParams conv;
  kernels::FullyConnectedParams fc;
  kernels::AddParams add;
  kernels::PoolParams pool;
  kernels::MeanParams mean;
  kernels::SoftmaxParams softmax;
  std::vector<int32_t> multipliers, shifts, bias;
  std::vector<float> scales;  // Rounding::kXnnpack: float requantization scale per output channel
  int fc_batches = 0, fc_accum = 0, fc_out = 0;
  size_t outer = 0, depth = 0;
  int pads[4][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
  int8_t pad_value = 0;
  int32_t rq_multiplier = 0;
  int rq_shift = 0;
  int32_t act_min = -128, act_max = 127;  // standalone RELU / RELU6
  bool float_input = false;
};

bool to_shape4(const TensorInfo& t, kernels::Shape4* s) {
  if (t.shape.size() > 4) return false;
  int d[4] = {1, 1, 1, 1};
  const size_t off = 4 - t.shape.size();
  for (size_t i = 0; i < t.shape.size(); ++i) d[off + i] = t.shape[i];
  s->n = d[0];
  s->h = d[1];
  s->w = d[2];
  s->c = d[3];
  return true;
}

// TFLM CalculateActivationRangeQuantized: zp + round(f / s) with ties away from zero. Under
// Rounding::kXnnpack, XNNPACK's bound quantization: round_half_even(f / s + zp), clamped to int8.
bool activation_range(Activation a, const TensorInfo& out, int32_t* lo, int32_t* hi, Rounding r) {
  const float scale = out.scale();
  const int32_t zp = out.zero_point();
  auto quantize = [&](float f) -> int32_t {
    if (r == Rounding::kXnnpack) return fp::quantize_bound_fp32(f, scale, zp);
    const float q = std::round(f / scale);
    if (!(q > -1e9f && q < 1e9f)) return f > 0 ? 127 : -128;
    return zp + static_cast<int32_t>(q);
  };
  *lo = -128;
  *hi = 127;
  switch (a) {
    case Activation::kNone: break;
    case Activation::kRelu: *lo = std::max<int32_t>(-128, quantize(0.0f)); break;
    case Activation::kRelu6:
      *lo = std::max<int32_t>(-128, quantize(0.0f));
      *hi = std::min<int32_t>(127, quantize(6.0f));
      break;
    case Activation::kReluN1To1:
      *lo = std::max<int32_t>(-128, quantize(-1.0f));
      *hi = std::min<int32_t>(127, quantize(1.0f));
      break;
  }
  return *lo <= *hi;
}

// Per output channel c of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED: TFLM's multiplier and shift of
// s_in * s_w[c] / s_out (in double), and the float32 scale XNNPACK computes left to right.
// `weight_scales` holds one scale for all channels or one per channel. False for an unusable scale.
bool prepare_requantization(float in_scale, const std::vector<float>& weight_scales, float out_scale, size_t channels,
                            Rounding r, PreparedOp* p) {
  p->multipliers.assign(channels, 0);
  p->shifts.assign(channels, 0);
  p->scales.assign(channels, 0.0f);
  for (size_t c = 0; c < channels; ++c) {
    const float ws = weight_scales.size() == 1 ? weight_scales[0] : weight_scales[c];
    p->scales[c] = in_scale * ws / out_scale;
    const double eff = static_cast<double>(in_scale) * static_cast<double>(ws) / static_cast<double>(out_scale);
    int shift = 0;
    if (!fp::quantize_multiplier(eff, r, &p->multipliers[c], &shift)) return false;
    p->shifts[c] = shift;
  }
  return true;
}

// TFLM ComputePaddingHeightWidth / ComputeOutSize for one dimension.
bool padding_1d(Padding p, int64_t in, int64_t filter, int64_t stride, int64_t dilation, int64_t* out_size,
                int* pad) {
  const int64_t eff = (filter - 1) * dilation + 1;
  *out_size = p == Padding::kSame ? (in + stride - 1) / stride : (in + stride - eff) / stride;
  if (*out_size < 0) *out_size = 0;
  int64_t total = (*out_size - 1) * stride + eff - in;
  if (total < 0) total = 0;
  if (total / 2 > (1 << 24)) return false;
  *pad = static_cast<int>(total / 2);
  return true;
}

bool valid_scale(float s) { return s > 0.0f && std::isfinite(s); }

}  // namespace

struct EngineClassifier::Impl {
  const uint8_t* data = nullptr;
  size_t size = 0;
  ParsedModel model;
  bool loaded = false;
  std::string error = "no model loaded";
  Rounding rounding = Rounding::kDouble;
  sorter::ModelDescription desc{};
  std::vector<std::string> labels;
  std::vector<PreparedOp> prepared;
  std::vector<std::vector<uint8_t>> storage;  // per tensor; empty for constants
  std::vector<std::vector<int32_t>> int32_constants;  // aligned copies of int32 constants
  int32_t input_index = -1, output_index = -1;

  const uint8_t* tensor_data(int32_t i) const {
    const TensorInfo& t = model.tensors[i];
    if (t.constant) return t.constant;
    return storage[i].data();
  }
  uint8_t* tensor_mut(int32_t i) { return storage[i].data(); }

  bool fail(const std::string& why) {
    error = why;
    loaded = false;
    return false;
  }
  bool prepare();
  bool prepare_op(size_t index, PreparedOp* p, double* macs);
  void run_op(PreparedOp& p);
};

bool EngineClassifier::Impl::prepare_op(size_t index, PreparedOp* p, double* macs) {
  const OpInfo& op = *p->op;
  const std::string where = "operator " + std::to_string(index) + " (" + op_name(op.code) + ")";
  auto bad = [&](const std::string& why) { return fail(where + ": " + why); };
  auto in_t = [&](size_t k) -> const TensorInfo* {
    if (k >= op.inputs.size() || op.inputs[k] < 0) return nullptr;
    return &model.tensors[op.inputs[k]];
  };
  if (op.outputs.size() != 1) return bad("expected exactly one output");
  const TensorInfo& out = model.tensors[op.outputs[0]];
  if (out.constant) return bad("writes into a constant tensor");
  const TensorInfo* in = in_t(0);
  if (!in) return bad("missing input");
  auto is_q8 = [](const TensorInfo& t) { return t.type == TensorType::kInt8 && !t.scales.empty() && valid_scale(t.scales[0]) && !t.zero_points.empty(); };
  const Rounding r = rounding;

  switch (op.code) {
    case kOpConv2D:
    case kOpDepthwiseConv2D: {
      const bool dw = op.code == kOpDepthwiseConv2D;
      const TensorInfo* filter = in_t(1);
      const TensorInfo* bias = in_t(2);
      if (!filter || !is_q8(*in) || !is_q8(out) || filter->type != TensorType::kInt8 || !filter->constant ||
          filter->scales.empty())
        return bad("needs int8 input/output and a constant, quantized int8 filter");
      if (in->shape.size() != 4 || filter->shape.size() != 4 || out.shape.size() != 4) return bad("needs 4D tensors");
      to_shape4(*in, &p->in);
      to_shape4(*filter, &p->filter);
      to_shape4(out, &p->out);
      const int oc = p->out.c;
      if (dw) {
        int dm = op.depth_multiplier;
        if (dm <= 0 && p->in.c > 0) dm = p->filter.c / p->in.c;
        if (p->filter.n != 1 || p->filter.c != oc || dm <= 0 || static_cast<int64_t>(p->in.c) * dm != oc)
          return bad("filter/output channels do not match input channels x depth multiplier");
        p->conv.depth_multiplier = dm;
      } else {
        if (p->filter.n != oc || p->filter.c != p->in.c) return bad("filter shape does not match input/output channels");
      }
      if (op.stride_w < 1 || op.stride_h < 1 || op.stride_w > 1024 || op.stride_h > 1024 || op.dilation_w < 1 ||
          op.dilation_h < 1 || op.dilation_w > 1024 || op.dilation_h > 1024)
        return bad("stride/dilation out of range");
      int64_t oh = 0, ow = 0;
      if (!padding_1d(op.padding, p->in.h, p->filter.h, op.stride_h, op.dilation_h, &oh, &p->conv.pad_h) ||
          !padding_1d(op.padding, p->in.w, p->filter.w, op.stride_w, op.dilation_w, &ow, &p->conv.pad_w))
        return bad("padding out of range");
      if (oh != p->out.h || ow != p->out.w || p->out.n != p->in.n) return bad("output shape does not match the convolution");
      p->conv.stride_w = op.stride_w;
      p->conv.stride_h = op.stride_h;
      p->conv.dilation_w = op.dilation_w;
      p->conv.dilation_h = op.dilation_h;
      if (filter->scales.size() != 1 && filter->scales.size() != static_cast<size_t>(oc))
        return bad("filter needs one scale or one per output channel");
      if (!prepare_requantization(in->scale(), filter->scales, out.scale(), static_cast<size_t>(oc), r, p))
        return bad("invalid filter scale");
      if (bias) {
        if (bias->type != TensorType::kInt32 || !bias->constant || bias->elements != static_cast<size_t>(oc))
          return bad("bias must be a constant int32 vector with one value per output channel");
        p->bias.resize(oc);
        std::memcpy(p->bias.data(), bias->constant, static_cast<size_t>(oc) * 4);
      }
      p->conv.input_offset = -in->zero_point();
      p->conv.output_offset = out.zero_point();
      if (!activation_range(op.activation, out, &p->conv.act_min, &p->conv.act_max, r)) return bad("empty activation range");
      *macs += static_cast<double>(p->out.size()) * p->filter.h * p->filter.w * (dw ? 1 : p->in.c);
      return true;
    }
    case kOpFullyConnected: {
      const TensorInfo* w = in_t(1);
      const TensorInfo* bias = in_t(2);
      if (!w || !is_q8(*in) || !is_q8(out) || w->type != TensorType::kInt8 || !w->constant || w->shape.size() != 2 ||
          w->scales.empty())
        return bad("needs int8 input/output and constant, quantized 2D int8 weights");
      p->fc_out = w->shape[0];
      p->fc_accum = w->shape[1];
      if (p->fc_accum <= 0 || in->elements % static_cast<size_t>(p->fc_accum) != 0) return bad("input size is not a multiple of the weights' depth");
      p->fc_batches = static_cast<int>(in->elements / static_cast<size_t>(p->fc_accum));
      if (out.elements != static_cast<size_t>(p->fc_batches) * p->fc_out) return bad("output size does not match");
      const bool per_channel = w->scales.size() > 1;
      if (per_channel && w->scales.size() != static_cast<size_t>(p->fc_out)) return bad("per-channel weights need one scale per output");
      if (!prepare_requantization(in->scale(), w->scales, out.scale(), per_channel ? w->scales.size() : 1, r, p))
        return bad("invalid weight scale");
      if (bias) {
        if (bias->type != TensorType::kInt32 || !bias->constant || bias->elements != static_cast<size_t>(p->fc_out))
          return bad("bias must be a constant int32 vector with one value per output");
        p->bias.resize(p->fc_out);
        std::memcpy(p->bias.data(), bias->constant, static_cast<size_t>(p->fc_out) * 4);
      }
      p->fc.per_channel = per_channel;
      p->fc.input_offset = -in->zero_point();
      p->fc.filter_offset = -w->zero_point();
      p->fc.output_offset = out.zero_point();
      if (!activation_range(op.activation, out, &p->fc.act_min, &p->fc.act_max, r)) return bad("empty activation range");
      *macs += static_cast<double>(p->fc_batches) * p->fc_out * p->fc_accum;
      return true;
    }
    case kOpAdd: {
      const TensorInfo* in2 = in_t(1);
      if (!in2 || !is_q8(*in) || !is_q8(*in2) || !is_q8(out)) return bad("needs int8 quantized inputs and output");
      if (!to_shape4(*in, &p->in) || !to_shape4(*in2, &p->in2) || !to_shape4(out, &p->out)) return bad("rank above 4");
      const int a[4] = {p->in.n, p->in.h, p->in.w, p->in.c}, b[4] = {p->in2.n, p->in2.h, p->in2.w, p->in2.c},
                o[4] = {p->out.n, p->out.h, p->out.w, p->out.c};
      for (int k = 0; k < 4; ++k) {
        if ((a[k] != o[k] && a[k] != 1) || (b[k] != o[k] && b[k] != 1) || (o[k] != std::max(a[k], b[k])))
          return bad("input shapes do not broadcast to the output shape");
      }
      const double twice_max = 2 * static_cast<double>(std::max(in->scale(), in2->scale()));
      p->add.left_shift = 20;
      const double m1 = static_cast<double>(in->scale()) / twice_max;
      const double m2 = static_cast<double>(in2->scale()) / twice_max;
      const double mo = twice_max / ((1 << p->add.left_shift) * static_cast<double>(out.scale()));
      if (!fp::quantize_multiplier(m1, r, &p->add.input1_multiplier, &p->add.input1_shift) ||
          !fp::quantize_multiplier(m2, r, &p->add.input2_multiplier, &p->add.input2_shift) ||
          !fp::quantize_multiplier(mo, r, &p->add.output_multiplier, &p->add.output_shift) || p->add.input1_shift > 0 ||
          p->add.input2_shift > 0 || p->add.output_shift > 0)
        return bad("scales need multipliers below one (TFLite QuantizeMultiplierSmallerThanOneExp)");
      if (r == Rounding::kXnnpack &&
          !fp::add_params_fp32(in->scale(), in2->scale(), out.scale(), in->zero_point(), in2->zero_point(), &p->add.xnn))
        return bad("input/output scale ratios outside XNNPACK's range [2^-10, 2^8)");
      p->add.input1_offset = -in->zero_point();
      p->add.input2_offset = -in2->zero_point();
      p->add.output_offset = out.zero_point();
      if (!activation_range(op.activation, out, &p->add.act_min, &p->add.act_max, r)) return bad("empty activation range");
      return true;
    }
    case kOpAveragePool2D:
    case kOpMaxPool2D: {
      if (!is_q8(*in) || !is_q8(out) || in->shape.size() != 4 || out.shape.size() != 4) return bad("needs 4D int8 tensors");
      to_shape4(*in, &p->in);
      to_shape4(out, &p->out);
      if (op.stride_w < 1 || op.stride_h < 1 || op.filter_w < 1 || op.filter_h < 1 || op.stride_w > 1024 ||
          op.stride_h > 1024 || op.filter_w > (1 << 16) || op.filter_h > (1 << 16))
        return bad("stride/filter out of range");
      int64_t oh = 0, ow = 0;
      if (!padding_1d(op.padding, p->in.h, op.filter_h, op.stride_h, 1, &oh, &p->pool.pad_h) ||
          !padding_1d(op.padding, p->in.w, op.filter_w, op.stride_w, 1, &ow, &p->pool.pad_w))
        return bad("padding out of range");
      if (oh != p->out.h || ow != p->out.w || p->out.n != p->in.n || p->out.c != p->in.c) return bad("output shape does not match the pooling");
      p->pool.stride_w = op.stride_w;
      p->pool.stride_h = op.stride_h;
      p->pool.filter_w = op.filter_w;
      p->pool.filter_h = op.filter_h;
      // Pools run as LiteRT builtins, not in XNNPACK: TFLite bound rounding under every variant.
      if (!activation_range(op.activation, out, &p->pool.act_min, &p->pool.act_max, Rounding::kSingle)) return bad("empty activation range");
      *macs += static_cast<double>(p->out.size()) * std::min<int64_t>(op.filter_h, p->in.h) * std::min<int64_t>(op.filter_w, p->in.w);
      return true;
    }
    case kOpMean: {
      const TensorInfo* axis = in_t(1);
      if (!axis || !is_q8(*in) || !is_q8(out) || in->shape.size() != 4) return bad("needs a 4D int8 input and int8 output");
      if (axis->type != TensorType::kInt32 || !axis->constant || axis->elements != 2) return bad("axis must be a constant int32 pair");
      int32_t ax[2];
      std::memcpy(ax, axis->constant, 8);
      for (int32_t& a : ax) if (a < 0) a += 4;
      if (!((ax[0] == 1 && ax[1] == 2) || (ax[0] == 2 && ax[1] == 1))) return bad("only the mean over H and W (axes 1, 2) is implemented");
      to_shape4(*in, &p->in);
      if (out.elements != static_cast<size_t>(p->in.n) * p->in.c) return bad("output size does not match");
      p->mean.input_zero_point = in->zero_point();
      p->mean.output_zero_point = out.zero_point();
      p->mean.same_quantization = in->zero_point() == out.zero_point() && in->scale() == out.scale();
      const double real = static_cast<double>(in->scale()) / static_cast<double>(out.scale());
      if (!fp::quantize_multiplier(real, r, &p->mean.multiplier, &p->mean.shift)) return bad("invalid scales");
      const int64_t count = static_cast<int64_t>(p->in.h) * p->in.w;
      p->mean.xnn_scale = (in->scale() / out.scale()) * (1.0f / static_cast<float>(count > 0 ? count : 1));
      return true;
    }
    case kOpSoftmax: {
      if (!is_q8(*in) || !is_q8(out) || in->shape.empty()) return bad("needs int8 input and output");
      if (out.zero_point() != -128 || std::fabs(out.scale() - 1.0f / 256) > 0.001f / 256)
        return bad("int8 output must have scale 1/256 and zero point -128");
      if (in->elements != out.elements) return bad("output size does not match");
      p->depth = static_cast<size_t>(in->shape.back());
      p->outer = p->depth == 0 ? 0 : in->elements / p->depth;
      if (!fp::preprocess_softmax_scaling(static_cast<double>(op.beta), static_cast<double>(in->scale()), 5, r,
                                          &p->softmax.input_multiplier, &p->softmax.input_left_shift) ||
          p->softmax.input_left_shift > 31)
        return bad("beta x input scale is out of range");
      p->softmax.diff_min = -fp::calculate_input_radius(5, p->softmax.input_left_shift);
      return true;
    }
    case kOpReshape:
    case kOpSqueeze: {
      if (in->type != out.type || in->elements != out.elements) return bad("input and output sizes differ");
      return true;
    }
    case kOpPad: {
      const TensorInfo* pads = in_t(1);
      if (!is_q8(*in) || !is_q8(out) || in->shape.size() > 4 || in->shape.size() != out.shape.size() || !pads || !pads->constant)
        return bad("needs int8 tensors of rank <= 4 and constant paddings");
      const size_t rank = in->shape.size();
      if (pads->elements != rank * 2 || (pads->type != TensorType::kInt32 && pads->type != TensorType::kInt64))
        return bad("paddings must be an int32/int64 [rank, 2] tensor");
      const size_t off = 4 - rank;
      for (size_t d = 0; d < rank; ++d) {
        for (int k = 0; k < 2; ++k) {
          int64_t v = 0;
          if (pads->type == TensorType::kInt32) {
            int32_t v32;
            std::memcpy(&v32, pads->constant + (d * 2 + k) * 4, 4);
            v = v32;
          } else {
            std::memcpy(&v, pads->constant + (d * 2 + k) * 8, 8);
          }
          if (v < 0 || v > (1 << 24)) return bad("negative or huge padding");
          p->pads[off + d][k] = static_cast<int>(v);
        }
        if (static_cast<int64_t>(in->shape[d]) + p->pads[off + d][0] + p->pads[off + d][1] != out.shape[d])
          return bad("output shape does not match input + paddings");
      }
      to_shape4(*in, &p->in);
      to_shape4(out, &p->out);
      if (in->zero_point() != out.zero_point()) return bad("input and output zero points differ");
      p->pad_value = static_cast<int8_t>(std::min(127, std::max(-128, out.zero_point())));
      return true;
    }
    case kOpQuantize: {
      // float32 -> int8, or requantization between int8/uint8 (the uint8 <-> int8 shims at the ends
      // of post-training-quantized models).
      auto is_q = [&](const TensorInfo& t) {
        return (t.type == TensorType::kInt8 || t.type == TensorType::kUInt8) && !t.scales.empty() &&
               valid_scale(t.scales[0]) && !t.zero_points.empty() && t.zero_points[0] >= -128 && t.zero_points[0] <= 255;
      };
      if (!is_q(out) || in->elements != out.elements) return bad("needs an int8/uint8 quantized output of the input's size");
      if (in->type == TensorType::kFloat32) {
        if (out.type != TensorType::kInt8) return bad("float input needs an int8 output");
        p->float_input = true;
        return true;
      }
      if (!is_q(*in)) return bad("input must be float32, int8 or uint8");
      const double real = static_cast<double>(in->scale()) / static_cast<double>(out.scale());
      if (!fp::quantize_multiplier(real, r, &p->rq_multiplier, &p->rq_shift)) return bad("invalid scales");
      return true;
    }
    case kOpRelu: {
      // TFLM CalculateReluOpData: requantize by s_in/s_out, clamp at zp_out + round(0 / s_out).
      if (!is_q8(*in) || !is_q8(out) || in->elements != out.elements) return bad("needs int8 input and output of equal size");
      const double real = static_cast<double>(in->scale()) / static_cast<double>(out.scale());
      if (!fp::quantize_multiplier(real, r, &p->rq_multiplier, &p->rq_shift)) return bad("invalid scales");
      p->act_min = std::max<int32_t>(-128, out.zero_point() + static_cast<int32_t>(std::round(0.0f / out.scale())));
      p->act_max = 127;
      return true;
    }
    case kOpRelu6: {
      // TFLM Relu6Prepare: a clamp of the raw values to [zp_in, FloatToQuantizedType(6, s_in, zp_in)];
      // the output keeps the input's quantization.
      if (!is_q8(*in) || out.type != TensorType::kInt8 || in->elements != out.elements) return bad("needs int8 input and output of equal size");
      const float q6 = std::round(6.0f / in->scale());
      const int64_t six = (q6 > 1e9f ? int64_t{1000000000} : static_cast<int64_t>(q6)) + in->zero_point();
      p->act_min = in->zero_point();
      p->act_max = static_cast<int32_t>(std::min<int64_t>(127, std::max<int64_t>(-128, six)));
      return true;
    }
    case kOpDequantize: {
      if (!is_q8(*in) || out.type != TensorType::kFloat32 || in->elements != out.elements) return bad("needs int8 input and float32 output");
      return true;
    }
    default:
      return fail(where + ": operator code " + std::to_string(op.code) + " is not implemented by the int8 engine");
  }
}

bool EngineClassifier::Impl::prepare() {
  prepared.clear();
  prepared.resize(model.ops.size());
  double macs = 0;
  for (size_t i = 0; i < model.ops.size(); ++i) {
    prepared[i].op = &model.ops[i];
    if (!prepare_op(i, &prepared[i], &macs)) return false;
  }
  if (macs > kMaxMacs) return fail("model needs more multiply-accumulates per inference than this build allows (" + std::to_string(kMaxMacs) + ")");
  return true;
}

void EngineClassifier::Impl::run_op(PreparedOp& p) {
  const OpInfo& op = *p.op;
  const int8_t* in = reinterpret_cast<const int8_t*>(tensor_data(op.inputs[0]));
  int8_t* out = reinterpret_cast<int8_t*>(tensor_mut(op.outputs[0]));
  const Rounding r = rounding;
  switch (op.code) {
    case kOpConv2D:
    case kOpDepthwiseConv2D:
      p.conv.multipliers = p.multipliers.data();
      p.conv.shifts = p.shifts.data();
      p.conv.scales = p.scales.data();
      p.conv.rounding = r;
      if (op.code == kOpConv2D) {
        kernels::conv2d(p.conv, p.in, in, p.filter, reinterpret_cast<const int8_t*>(tensor_data(op.inputs[1])),
                        p.bias.empty() ? nullptr : p.bias.data(), p.out, out);
      } else {
        kernels::depthwise_conv2d(p.conv, p.in, in, p.filter, reinterpret_cast<const int8_t*>(tensor_data(op.inputs[1])),
                                  p.bias.empty() ? nullptr : p.bias.data(), p.out, out);
      }
      break;
    case kOpFullyConnected:
      p.fc.multipliers = p.multipliers.data();
      p.fc.shifts = p.shifts.data();
      p.fc.scales = p.scales.data();
      p.fc.rounding = r;
      kernels::fully_connected(p.fc, p.fc_batches, p.fc_accum, p.fc_out, in,
                               reinterpret_cast<const int8_t*>(tensor_data(op.inputs[1])),
                               p.bias.empty() ? nullptr : p.bias.data(), out);
      break;
    case kOpAdd:
      p.add.rounding = r;
      kernels::add(p.add, p.in, in, p.in2, reinterpret_cast<const int8_t*>(tensor_data(op.inputs[1])), p.out, out);
      break;
    case kOpAveragePool2D:
      kernels::average_pool(p.pool, p.in, in, p.out, out);
      break;
    case kOpMaxPool2D:
      kernels::max_pool(p.pool, p.in, in, p.out, out);
      break;
    case kOpMean:
      p.mean.rounding = r;
      kernels::mean_hw(p.mean, p.in, in, out);
      break;
    case kOpSoftmax:
      p.softmax.rounding = r;
      kernels::softmax(p.softmax, p.outer, p.depth, in, out);
      break;
    case kOpReshape:
    case kOpSqueeze:
      if (reinterpret_cast<const uint8_t*>(in) != reinterpret_cast<uint8_t*>(out))
        std::memmove(out, in, model.tensors[op.outputs[0]].bytes);
      break;
    case kOpPad:
      kernels::pad(p.in, in, p.pads, p.pad_value, p.out, out);
      break;
    case kOpQuantize: {
      const TensorInfo& it = model.tensors[op.inputs[0]];
      const TensorInfo& ot = model.tensors[op.outputs[0]];
      if (p.float_input) {
        std::vector<float> tmp(ot.elements);
        std::memcpy(tmp.data(), in, ot.elements * 4);
        kernels::quantize_float(ot.elements, tmp.data(), ot.scale(), ot.zero_point(), out);
      } else {
        const uint8_t* src = reinterpret_cast<const uint8_t*>(in);
        uint8_t* dst = reinterpret_cast<uint8_t*>(out);
        const bool in_u8 = it.type == TensorType::kUInt8, out_u8 = ot.type == TensorType::kUInt8;
        const int32_t lo = out_u8 ? 0 : -128, hi = out_u8 ? 255 : 127;
        for (size_t i = 0; i < ot.elements; ++i) {
          const int32_t x = in_u8 ? static_cast<int32_t>(src[i]) : static_cast<int32_t>(static_cast<int8_t>(src[i]));
          int32_t v = fp::wrap_add(fp::multiply_by_quantized_multiplier(x - it.zero_point(), p.rq_multiplier, p.rq_shift, r),
                                   ot.zero_point());
          v = std::min(std::max(v, lo), hi);
          dst[i] = static_cast<uint8_t>(v);
        }
      }
      break;
    }
    case kOpRelu: {
      const TensorInfo& it = model.tensors[op.inputs[0]];
      const TensorInfo& ot = model.tensors[op.outputs[0]];
      for (size_t i = 0; i < ot.elements; ++i) {
        int32_t v = fp::wrap_add(ot.zero_point(), fp::multiply_by_quantized_multiplier(in[i] - it.zero_point(), p.rq_multiplier,
                                                                                       p.rq_shift, r));
        out[i] = static_cast<int8_t>(std::min(std::max(v, p.act_min), p.act_max));
      }
      break;
    }
    case kOpRelu6: {
      const size_t n = model.tensors[op.outputs[0]].elements;
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<int8_t>(std::min<int32_t>(std::max<int32_t>(in[i], p.act_min), p.act_max));
      break;
    }
    case kOpDequantize: {
      const TensorInfo& it = model.tensors[op.inputs[0]];
      std::vector<float> tmp(it.elements);
      kernels::dequantize(it.elements, in, it.scale(), it.zero_point(), tmp.data());
      std::memcpy(out, tmp.data(), it.elements * 4);
      break;
    }
    default:
      break;
  }
}

EngineClassifier::EngineClassifier() : impl_(new Impl) {}
EngineClassifier::~EngineClassifier() = default;

bool EngineClassifier::load(const uint8_t* data, size_t size) {
  Impl& m = *impl_;
  m.loaded = false;
  m.prepared.clear();
  m.storage.clear();
  m.labels.clear();
  m.desc = sorter::ModelDescription{};
  m.data = data;
  m.size = size;
  std::string err;
  if (!parse_model(data, size, &m.model, &err)) return m.fail("model parse failed: " + err);
  sha256(data, size, m.desc.model_sha256);
  m.labels = parse_labels_json(m.model.plastisort_metadata);
  m.input_index = m.model.inputs[0];
  m.output_index = m.model.outputs[0];

  uint64_t total = 0;
  m.storage.resize(m.model.tensors.size());
  for (size_t i = 0; i < m.model.tensors.size(); ++i) {
    const TensorInfo& t = m.model.tensors[i];
    if (t.constant) continue;
    total += t.bytes;
    if (total > kMaxActivationBytes) return m.fail("model activations exceed 256 MiB");
  }
  if (m.model.tensors[m.input_index].constant) return m.fail("model input is a constant tensor");
  for (size_t i = 0; i < m.model.tensors.size(); ++i) {
    const TensorInfo& t = m.model.tensors[i];
    if (!t.constant) m.storage[i].assign(t.bytes, 0);
  }
  if (!m.prepare()) return false;

  const TensorInfo& in = m.model.tensors[m.input_index];
  const TensorInfo& out = m.model.tensors[m.output_index];
  auto dim = [](const std::vector<int32_t>& s, size_t i) -> uint16_t {
    return i < s.size() ? static_cast<uint16_t>(std::min<int32_t>(s[i], 65535)) : 0;
  };
  if (in.shape.size() == 4) {
    m.desc.input_height = dim(in.shape, 1);
    m.desc.input_width = dim(in.shape, 2);
    m.desc.input_channels = dim(in.shape, 3);
  } else {
    m.desc.input_width = static_cast<uint16_t>(std::min<size_t>(in.elements, 65535));
    m.desc.input_height = 1;
    m.desc.input_channels = 1;
  }
  m.desc.input_quant = {in.scale(), in.zero_point()};
  m.desc.output_quant = {out.scale(), out.zero_point()};
  m.desc.num_classes = static_cast<uint16_t>(std::min<size_t>(out.elements, 65535));
  m.desc.arena_used_bytes = 0;
  m.loaded = true;
  m.error = "";
  return true;
}

void EngineClassifier::set_rounding(Rounding r) {
  impl_->rounding = r;
  if (impl_->loaded && !impl_->prepare()) impl_->loaded = false;
}
Rounding EngineClassifier::rounding() const { return impl_->rounding; }
bool EngineClassifier::ready() const { return impl_->loaded; }
const char* EngineClassifier::last_error() const { return impl_->error.c_str(); }
const sorter::ModelDescription& EngineClassifier::description() const { return impl_->desc; }
const std::vector<std::string>& EngineClassifier::labels() const { return impl_->labels; }

size_t EngineClassifier::input_bytes() const {
  return impl_->loaded ? impl_->model.tensors[impl_->input_index].bytes : 0;
}
size_t EngineClassifier::output_bytes() const {
  return impl_->loaded ? impl_->model.tensors[impl_->output_index].bytes : 0;
}
std::vector<int32_t> EngineClassifier::input_shape() const {
  return impl_->loaded ? impl_->model.tensors[impl_->input_index].shape : std::vector<int32_t>{};
}
std::vector<int32_t> EngineClassifier::output_shape() const {
  return impl_->loaded ? impl_->model.tensors[impl_->output_index].shape : std::vector<int32_t>{};
}
const uint8_t* EngineClassifier::output() const {
  return impl_->loaded ? impl_->tensor_data(impl_->output_index) : nullptr;
}

sorter::Status EngineClassifier::invoke(const uint8_t* input, size_t input_len) {
  Impl& m = *impl_;
  if (!m.loaded) return sorter::Status::kNotReady;
  if (input_len != m.model.tensors[m.input_index].bytes) {
    m.error = "input has " + std::to_string(input_len) + " bytes, the model expects " +
              std::to_string(m.model.tensors[m.input_index].bytes);
    return sorter::Status::kBadInput;
  }
  if (input_len) std::memcpy(m.tensor_mut(m.input_index), input, input_len);
  for (PreparedOp& p : m.prepared) m.run_op(p);
  return sorter::Status::kOk;
}

sorter::Status EngineClassifier::classify(const int8_t* input, size_t input_len, int8_t* scores, size_t scores_len,
                                          uint32_t* invoke_us) {
  Impl& m = *impl_;
  if (!m.loaded) return sorter::Status::kNotReady;
  const TensorInfo& in = m.model.tensors[m.input_index];
  const TensorInfo& out = m.model.tensors[m.output_index];
  if (in.type != TensorType::kInt8 || out.type != TensorType::kInt8) {
    m.error = "classify() needs an int8 model input and output";
    return sorter::Status::kInvokeFailed;
  }
  if (scores_len != out.elements) {
    m.error = "scores buffer has " + std::to_string(scores_len) + " values, the model outputs " +
              std::to_string(out.elements);
    return sorter::Status::kBadInput;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const sorter::Status s = invoke(reinterpret_cast<const uint8_t*>(input), input_len);
  const auto t1 = std::chrono::steady_clock::now();
  if (s != sorter::Status::kOk) return s;
  if (invoke_us) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count();
    *invoke_us = static_cast<uint32_t>(us > 0xFFFFFFFFll ? 0xFFFFFFFFll : us);
  }
  std::memcpy(scores, m.tensor_data(m.output_index), out.elements);
  return sorter::Status::kOk;
}

size_t EngineClassifier::dump_tensor_count() const { return impl_->loaded ? impl_->prepared.size() : 0; }

sorter::Status EngineClassifier::dump_tensor(size_t index, const int8_t** data, size_t* len, const char** name) const {
  const Impl& m = *impl_;
  if (!m.loaded || index >= m.prepared.size()) return sorter::Status::kNoSuchTensor;
  const int32_t t = m.prepared[index].op->outputs[0];
  if (data) *data = reinterpret_cast<const int8_t*>(m.tensor_data(t));
  if (len) *len = m.model.tensors[t].bytes;
  if (name) *name = m.model.tensors[t].name.c_str();
  return sorter::Status::kOk;
}

}  // namespace int8_engine
