/**
 * Full-int8 post-training quantization of a lowered classifier, per the TFLite int8 quantization spec:
 * - weights int8 symmetric (zero point 0, range ±127): per output channel for CONV_2D (axis 0) and
 *   DEPTHWISE_CONV_2D (axis 3), per tensor for FULLY_CONNECTED (what every TFLite Micro build supports);
 * - biases int32, zero point 0, scale = input scale × weight scale (per channel where weights are), each
 *   absorbing the mean output error of its rounded weights when calibration input means are given;
 *   `biasQuantParams: false` leaves those parameters out of the file for convolutions (see BuildOptions);
 * - activations int8 asymmetric per tensor, range widened to include 0, from calibration;
 * - PAD and RESHAPE outputs share their input's parameters; SOFTMAX output is scale 1/256, zero point −128;
 * - the input takes a camera byte p as q = p − 128, its scale and zero point derived from the float
 *   model's input scaling x = p·scale + offset (see `inputQuantization`).
 */
import type { IrGraph, IrOp } from './ir.ts';
import { hasWeights } from './ir.ts';
import type { ActQuant, FakeQuant } from './execute.ts';
import { rangeFor, type CalibrationMethod, type ValueStats } from './calibrate.ts';
import { UserError } from '../util/errors.ts';

export interface FloatScaling {
  scale: number;
  offset: number;
}

export interface InputQuantization {
  scale: number;
  zeroPoint: number;
  exactZeroPoint: number;
  residualOffset: number;
}

/**
 * The int8 input parameters for q = p − 128 given x = p·scale + offset:
 * x = scale·(q − zp) needs zp = −offset/scale − 128. When that is not an integer (x = p/127.5 − 1 gives
 * −0.5), the nearest integer is used and every input value is off by residualOffset = −(128+zp)·scale − offset.
 */
export function inputQuantization(fs: FloatScaling): InputQuantization {
  if (!(fs.scale > 0) || !Number.isFinite(fs.offset)) {
    throw new UserError(`floatScaling ${JSON.stringify(fs)} is not usable: scale must be positive and offset finite; fix the run's config.json`);
  }
  const exactZeroPoint = -fs.offset / fs.scale - 128;
  const zeroPoint = Math.max(-128, Math.min(127, Math.round(exactZeroPoint))) || 0;
  const residualOffset = -(128 + zeroPoint) * fs.scale - fs.offset;
  return { scale: fs.scale, zeroPoint, exactZeroPoint, residualOffset: Math.abs(residualOffset) < 1e-12 ? 0 : residualOffset };
}

/** Round half away from zero, as TFLite's converter and kernels (std::round) do. */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** Activation parameters covering [lo, hi] widened to include 0. */
export function activationQuant(lo: number, hi: number): ActQuant & { min: number; max: number } {
  let l = Math.min(lo, 0);
  let h = Math.max(hi, 0);
  if (h - l < 1e-8) h = l + 1e-8;
  const scale = (h - l) / 255;
  const zeroPoint = Math.max(-128, Math.min(127, Math.round(-128 - l / scale)));
  l = (-128 - zeroPoint) * scale;
  h = (127 - zeroPoint) * scale;
  return { scale, zeroPoint, min: l, max: h };
}

export interface QuantizedWeights {
  weights: Int8Array;
  /** One per output channel (conv, depthwise) or a single one (fully connected). */
  weightScales: number[];
  bias: Int32Array;
  biasScales: number[];
  biasSaturated: number;
}

/**
 * The mean output error per channel that rounding the weights to `q`·`scales` causes, for an input whose
 * channels average `inputMean`: e_c = Σ_i (ŵ_ci − w_ci)·E[x_i]. MobileNetV2's layers read ReLU6 outputs,
 * which are all ≥ 0, so the rounding errors of a 1×1 convolution over 960 channels do not average out:
 * they add up to a shift of the channel's whole output (Nagel et al. 2019, "bias correction").
 */
function weightRoundingBias(op: IrOp & { weights: Float32Array; bias: Float32Array }, q: Int8Array, scaleOf: (i: number) => number, channelOf: (i: number) => number, inputMean: Float64Array): Float64Array {
  const w = op.weights;
  const cout = op.bias.length;
  const cin = inputMean.length;
  const e = new Float64Array(cout);
  // Depthwise [1,kh,kw,C·M]: output channel c reads input channel ⌊c/M⌋. Conv OHWI / FC [out,in]: input channel i mod cin.
  const inputOf = op.kind === 'DEPTHWISE_CONV_2D' ? (i: number) => Math.floor((i % cout) / (cout / cin)) : (i: number) => i % cin;
  for (let i = 0; i < w.length; i++) e[channelOf(i)] += (q[i]! * scaleOf(i) - w[i]!) * inputMean[inputOf(i)]!;
  return e;
}

/**
 * Symmetric int8 weights (±127, zero point 0) per output channel or per tensor, int32 bias at s_in·s_w.
 * With `inputMean` (the calibration mean of each input channel), the bias absorbs the mean error of the
 * rounded weights (weightRoundingBias).
 */
export function quantizeWeights(op: IrOp & { weights: Float32Array; bias: Float32Array }, inputScale: number, perChannel: boolean, inputMean?: Float64Array): QuantizedWeights {
  const w = op.weights;
  const cout = op.bias.length;
  // Channel of element i: conv/FC are [out, ...] (channel-major), depthwise [1,kh,kw,C] (channel-minor).
  const channelOf = op.kind === 'DEPTHWISE_CONV_2D' ? (i: number) => i % cout : (i: number) => Math.floor(i / (w.length / cout));
  const maxAbs = new Float64Array(perChannel ? cout : 1);
  for (let i = 0; i < w.length; i++) {
    const c = perChannel ? channelOf(i) : 0;
    const a = Math.abs(w[i]!);
    if (a > maxAbs[c]!) maxAbs[c] = a;
  }
  const weightScales = Array.from(maxAbs, (m) => (m > 0 ? m / 127 : 1 / 127));
  const q = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const s = weightScales[perChannel ? channelOf(i) : 0]!;
    q[i] = Math.max(-127, Math.min(127, roundHalfAway(w[i]! / s)));
  }
  const biasScales = Array.from({ length: perChannel ? cout : 1 }, (_, c) => inputScale * weightScales[c]!);
  const correction = inputMean ? weightRoundingBias(op, q, (i) => weightScales[perChannel ? channelOf(i) : 0]!, channelOf, inputMean) : undefined;
  const bias = new Int32Array(cout);
  let biasSaturated = 0;
  for (let c = 0; c < cout; c++) {
    const v = roundHalfAway((op.bias[c]! - (correction?.[c] ?? 0)) / biasScales[perChannel ? c : 0]!);
    const clamped = Math.max(-2147483648, Math.min(2147483647, v));
    if (clamped !== v) biasSaturated++;
    bias[c] = clamped;
  }
  return { weights: q, weightScales, bias, biasScales, biasSaturated };
}

export interface QuantParams {
  activations: Map<number, ActQuant & { min: number; max: number }>;
  weights: Map<string, QuantizedWeights>;
}

/** Chooses every tensor's int8 parameters for one calibration method. */
export function assignQuantParams(
  graph: IrGraph,
  stats: Map<number, ValueStats>,
  input: InputQuantization,
  method: CalibrationMethod,
  percentile = 99.99,
  biasCorrection = true,
): QuantParams {
  const activations = new Map<number, ActQuant & { min: number; max: number }>();
  const weights = new Map<string, QuantizedWeights>();
  activations.set(graph.input, { scale: input.scale, zeroPoint: input.zeroPoint, min: (-128 - input.zeroPoint) * input.scale, max: (127 - input.zeroPoint) * input.scale });
  const feedsSoftmax = new Set(graph.ops.filter((op) => op.kind === 'SOFTMAX').map((op) => op.inputs[0]!));
  for (const op of graph.ops) {
    const inQ = activations.get(op.inputs[0]!);
    if (!inQ) throw new Error(`internal: input of ${op.name} has no quantization`);
    if (op.kind === 'PAD' || op.kind === 'RESHAPE') {
      activations.set(op.output, inQ);
    } else if (op.kind === 'SOFTMAX') {
      activations.set(op.output, { scale: 1 / 256, zeroPoint: -128, min: 0, max: 255 / 256 });
    } else {
      const s = stats.get(op.output);
      if (!s) throw new Error(`internal: no calibration statistics for ${op.name}`);
      // Logits keep their full range: clipping the largest logit can change the predicted class.
      const [lo, hi] = rangeFor(s, feedsSoftmax.has(op.output) ? 'minmax' : method, percentile);
      activations.set(op.output, activationQuant(lo, hi));
    }
    if (hasWeights(op)) {
      const inputMean = biasCorrection ? stats.get(op.inputs[0]!)?.channelMean : undefined;
      weights.set(op.name, quantizeWeights(op, inQ.scale, op.kind !== 'FULLY_CONNECTED', inputMean));
    }
  }
  return { activations, weights };
}

/** Dequantized weights/biases and activation grids for simulating the int8 model in float. */
export function fakeQuantOf(graph: IrGraph, params: QuantParams): FakeQuant {
  const p = new Map<string, { weights: Float32Array; bias: Float32Array }>();
  for (const op of graph.ops) {
    if (!hasWeights(op)) continue;
    const q = params.weights.get(op.name)!;
    const cout = op.bias.length;
    const perChannel = q.weightScales.length > 1;
    const channelOf = op.kind === 'DEPTHWISE_CONV_2D' ? (i: number) => i % cout : (i: number) => Math.floor(i / (q.weights.length / cout));
    const w = new Float32Array(q.weights.length);
    for (let i = 0; i < w.length; i++) w[i] = q.weights[i]! * q.weightScales[perChannel ? channelOf(i) : 0]!;
    const b = new Float32Array(cout);
    for (let c = 0; c < cout; c++) b[c] = q.bias[c]! * q.biasScales[perChannel ? c : 0]!;
    p.set(op.name, { weights: w, bias: b });
  }
  return { activations: new Map([...params.activations].map(([k, v]) => [k, { scale: v.scale, zeroPoint: v.zeroPoint }])), params: p };
}
