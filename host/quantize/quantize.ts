/**
 * Full-int8 post-training quantization of a lowered classifier, per the TFLite int8 quantization spec:
 * - weights int8 symmetric (zero point 0, range ±127): per output channel for CONV_2D (axis 0) and
 *   DEPTHWISE_CONV_2D (axis 3), per tensor for FULLY_CONNECTED (what every TFLite Micro build supports);
 * - biases int32, zero point 0, scale = input scale × weight scale (per channel where weights are);
 *   `biasQuantParams: false` leaves those parameters out of the file for convolutions (see BuildOptions);
 * - activations int8 asymmetric per tensor, range widened to include 0, from calibration;
 * - PAD and RESHAPE outputs share their input's parameters; SOFTMAX output is scale 1/256, zero point −128;
 * - the input takes a camera byte p as q = p − 128, its scale and zero point derived from the float
 *   model's input scaling x = p·scale + offset (see `inputQuantization`).
 */
import * as tf from '@tensorflow/tfjs';
import type { Operator, Quantization, Tensor, TfliteModel, PlastisortMetadata } from '../tflite/model.ts';
import { writeTflite } from '../tflite/writer.ts';
import { loadLiteRtModel } from '../tflite/litert.ts';
import { log } from '../util/log.ts';
import { UserError } from '../util/errors.ts';
import type { IrGraph, IrOp } from './ir.ts';
import { hasWeights } from './ir.ts';
import { lowerLayersModel, opCounts } from './lower.ts';
import { IrExecutor, imagesToBatch, type ActQuant, type FakeQuant } from './execute.ts';
import { collectStats, rangeFor, type CalibrationMethod, CALIBRATION_METHODS, type ValueStats } from './calibrate.ts';

export type { CalibrationMethod } from './calibrate.ts';

export interface FloatScaling {
  scale: number;
  offset: number;
}

export interface QuantizeConfig {
  classes: string[];
  inputSize: number;
  floatScaling: FloatScaling;
  resize: 'squash' | 'center-crop';
  manifestSha256?: string;
  runId?: string;
}

export interface QuantizeOptions {
  /** 'auto' tries every method and keeps the best on the validation images (minmax without them). */
  method: CalibrationMethod | 'auto';
  /** For 'percentile' (default 99.99). */
  percentile?: number;
  /** Validation images (RGB888) and labels for choosing the method and measuring agreement with float. */
  validation?: { images: Uint8Array[]; labels: number[] };
  /** Cancel the input's residual offset in the first convolution's bias (default true). */
  compensateInputOffset?: boolean;
  /** Also measure validation scores without the compensation (default true). */
  measureInputOffset?: boolean;
  /** Record quantization parameters on convolution biases too (default true; see BuildOptions). */
  biasQuantParams?: boolean;
  /**
   * How int8 validation scores are computed: 'litert' runs each candidate `.tflite` in LiteRT (real
   * integer kernels; default, falls back to 'simulate' if LiteRT cannot load), 'simulate' runs the float
   * executor with every weight and activation rounded to its int8 grid.
   */
  evaluator?: Int8Evaluator;
  batchSize?: number;
  seed?: number;
  onProgress?: (phase: string, done: number, total: number) => void;
}

export type Int8Evaluator = 'litert' | 'simulate';

export interface SplitScore {
  /** Top-1 agreement with the float model on the validation images. */
  agreement: number;
  /** Top-1 accuracy against the labels. */
  accuracy: number;
}

export interface TensorReport {
  name: string;
  shape: number[];
  /** Observed range over the calibration images. */
  observedMin: number;
  observedMax: number;
  /** Range the int8 grid covers (after clipping and widening to include 0). */
  min: number;
  max: number;
  scale: number;
  zeroPoint: number;
}

export interface QuantizeReport {
  schema: 'plastisort.quantize-report/1';
  runId?: string;
  classes: string[];
  inputSize: number;
  methodRequested: CalibrationMethod | 'auto';
  method: CalibrationMethod;
  percentile: number;
  /** Validation scores per method tried (absent without validation images). */
  candidates: Array<{ method: CalibrationMethod } & Partial<SplitScore>>;
  validation?: { images: number; floatAccuracy: number; int8: SplitScore; evaluator: Int8Evaluator };
  input: {
    scale: number;
    zeroPoint: number;
    /** The zero point that would match the float scaling exactly (may be fractional). */
    exactZeroPoint: number;
    /** x_int8 − x_float for every pixel, in float input units (0 when exact). */
    residualOffset: number;
    residualOffsetLsb: number;
    compensatedInFirstLayer: boolean;
    compensatedOps: string[];
    /** Int8 validation scores of the shipped model and of the same model without the bias compensation. */
    effect?: { shipped: SplitScore; uncompensated: SplitScore; evaluator: Int8Evaluator };
  };
  calibration: { images: number; sampleBudget: number };
  lowering: { notes: string[]; ops: Record<string, number> };
  tensors: TensorReport[];
  /** biasQuantParams: whether convolution biases carry quantization parameters in the file (see BuildOptions). */
  sizes: { int8WeightBytes: number; int32BiasBytes: number; otherConstantBytes: number; tfliteBytes: number; overheadPercent: number; biasesSaturated: number; biasQuantParams: boolean };
  /** validateMs: float pass and method choice on the val split; offsetEffectMs: the two extra passes of `input.effect`. */
  timings: { lowerMs: number; calibrateMs: number; validateMs: number; offsetEffectMs: number; writeMs: number; totalMs: number };
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

/** Activation parameters covering [lo, hi] widened to include 0. */
/** Round half away from zero, as TFLite's converter and kernels (std::round) do. */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

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

/** Symmetric int8 weights (±127, zero point 0) per output channel or per tensor, int32 bias at s_in·s_w. */
export function quantizeWeights(op: IrOp & { weights: Float32Array; bias: Float32Array }, inputScale: number, perChannel: boolean): QuantizedWeights {
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
  const bias = new Int32Array(cout);
  let biasSaturated = 0;
  for (let c = 0; c < cout; c++) {
    const v = roundHalfAway(op.bias[c]! / biasScales[perChannel ? c : 0]!);
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
    if (hasWeights(op)) weights.set(op.name, quantizeWeights(op, inQ.scale, op.kind !== 'FULLY_CONNECTED'));
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

export function cloneGraph(graph: IrGraph): IrGraph {
  return {
    ...graph,
    values: graph.values.map((v) => ({ ...v, shape: [...v.shape] })),
    ops: graph.ops.map((op) => {
      const c = { ...op, inputs: [...op.inputs] } as IrOp;
      if (hasWeights(c) && hasWeights(op)) {
        c.weights = Float32Array.from(op.weights);
        c.bias = Float32Array.from(op.bias);
      }
      return c;
    }),
    notes: [...graph.notes],
  };
}

/**
 * Cancels a constant input offset δ in the convolutions reading the graph input: conv(x + δ) = conv(x) +
 * δ·Σw inside the image, so bias −= δ·Σw. Exact except where a window overlaps the zero padding.
 * Returns the names of the ops changed (none when another op reads the input).
 */
export function compensateInputOffset(graph: IrGraph, delta: number): string[] {
  if (delta === 0) return [];
  const readers = graph.ops.filter((op) => op.inputs.includes(graph.input));
  if (readers.length === 0 || !readers.every((op) => op.kind === 'CONV_2D' || op.kind === 'DEPTHWISE_CONV_2D')) return [];
  for (const op of readers) {
    if (op.kind !== 'CONV_2D' && op.kind !== 'DEPTHWISE_CONV_2D') continue;
    const cout = op.bias.length;
    const sums = new Float64Array(cout);
    if (op.kind === 'CONV_2D') {
      const per = op.weights.length / cout;
      for (let o = 0; o < cout; o++) for (let j = 0; j < per; j++) sums[o] += op.weights[o * per + j]!;
    } else {
      for (let i = 0; i < op.weights.length; i++) sums[i % cout] += op.weights[i]!;
    }
    for (let o = 0; o < cout; o++) op.bias[o] = op.bias[o]! - delta * sums[o]!;
  }
  return readers.map((op) => op.name);
}

function bytesOf(a: Int8Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

function int32Bytes(values: number[]): Uint8Array {
  return bytesOf(Int32Array.from(values));
}

export interface BuildOptions {
  /**
   * Write quantization parameters (scale = input scale × weight scale, zero point 0) on the int32 bias
   * of CONV_2D and DEPTHWISE_CONV_2D (default true). TFLite and TFLite Micro derive those ops'
   * requantization from input, filter and output scales only and never read the bias's parameters, so
   * false drops them: per output channel they cost a float32 scale (the zero-point vector is shared
   * with the filter's), about 3% of a MobileNetV2 file. They stay by default because LiteRT's XNNPACK
   * delegate takes a convolution only when its bias is quantized: without them LiteRT runs the
   * convolutions on TFLite's built-in kernels, ~20× slower in Node and with other rounding, so
   * desktop int8 outputs no longer match the int8 engine's XNNPACK variant. FULLY_CONNECTED always
   * keeps them: TFLite's kernel checks its bias scale.
   */
  biasQuantParams?: boolean;
}

/** Builds the int8 TfliteModel from the quantized graph. */
export function buildTfliteModel(graph: IrGraph, params: QuantParams, meta: PlastisortMetadata, options: BuildOptions = {}): TfliteModel {
  const tensors: Tensor[] = [];
  const buffers: Uint8Array[] = [new Uint8Array(0)];
  const operators: Operator[] = [];
  const valueTensor = new Map<number, number>();
  const addConst = (name: string, shape: number[], type: Tensor['type'], data: Uint8Array, quantization?: Quantization): number => {
    buffers.push(data);
    tensors.push({ name, shape, type, buffer: buffers.length - 1, ...(quantization ? { quantization } : {}) });
    return tensors.length - 1;
  };
  const tensorOf = (id: number): number => {
    let t = valueTensor.get(id);
    if (t === undefined) {
      const v = graph.values[id]!;
      const q = params.activations.get(id)!;
      tensors.push({
        name: v.name,
        shape: [...v.shape],
        type: 'int8',
        buffer: 0,
        quantization: { scale: [q.scale], zeroPoint: [q.zeroPoint], min: [q.min], max: [q.max] },
      });
      t = tensors.length - 1;
      valueTensor.set(id, t);
    }
    return t;
  };
  tensorOf(graph.input);
  for (const op of graph.ops) {
    const ins = op.inputs.map(tensorOf);
    if (hasWeights(op)) {
      const q = params.weights.get(op.name)!;
      const perChannel = q.weightScales.length > 1;
      const qdim = op.kind === 'DEPTHWISE_CONV_2D' ? 3 : 0;
      const wq: Quantization = { scale: q.weightScales, zeroPoint: q.weightScales.map(() => 0), ...(perChannel ? { quantizedDimension: qdim } : {}) };
      const bq: Quantization = { scale: q.biasScales, zeroPoint: q.biasScales.map(() => 0), ...(perChannel ? { quantizedDimension: 0 } : {}) };
      const keepBiasParams = op.kind === 'FULLY_CONNECTED' || options.biasQuantParams !== false;
      ins.push(addConst(`${op.name}/weights`, [...op.weightShape], 'int8', bytesOf(q.weights), wq));
      ins.push(addConst(`${op.name}/bias`, [op.bias.length], 'int32', bytesOf(q.bias), keepBiasParams ? bq : undefined));
    }
    const out = tensorOf(op.output);
    switch (op.kind) {
      case 'CONV_2D':
        operators.push({ op: 'CONV_2D', inputs: ins, outputs: [out], options: { padding: op.padding, strideW: op.strideW, strideH: op.strideH, dilationW: op.dilationW, dilationH: op.dilationH, fusedActivation: op.activation } });
        break;
      case 'DEPTHWISE_CONV_2D':
        operators.push({ op: 'DEPTHWISE_CONV_2D', inputs: ins, outputs: [out], options: { padding: op.padding, strideW: op.strideW, strideH: op.strideH, dilationW: op.dilationW, dilationH: op.dilationH, fusedActivation: op.activation, depthMultiplier: op.depthMultiplier } });
        break;
      case 'FULLY_CONNECTED':
        operators.push({ op: 'FULLY_CONNECTED', inputs: ins, outputs: [out], options: { fusedActivation: op.activation, keepNumDims: false } });
        break;
      case 'ADD':
        operators.push({ op: 'ADD', inputs: ins, outputs: [out], options: { fusedActivation: op.activation } });
        break;
      case 'MEAN':
        ins.push(addConst(`${op.name}/axes`, [2], 'int32', int32Bytes([1, 2])));
        operators.push({ op: 'MEAN', inputs: ins, outputs: [out], options: { keepDims: false } });
        break;
      case 'SOFTMAX':
        operators.push({ op: 'SOFTMAX', inputs: ins, outputs: [out], options: { beta: op.beta } });
        break;
      case 'PAD':
        ins.push(addConst(`${op.name}/paddings`, [4, 2], 'int32', int32Bytes([0, 0, ...op.paddings[0], ...op.paddings[1], 0, 0])));
        operators.push({ op: 'PAD', inputs: ins, outputs: [out] });
        break;
      case 'RESHAPE':
        ins.push(addConst(`${op.name}/shape`, [op.newShape.length], 'int32', int32Bytes(op.newShape)));
        operators.push({ op: 'RESHAPE', inputs: ins, outputs: [out], options: { newShape: op.newShape } });
        break;
      case 'RELU':
      case 'RELU6':
        operators.push({ op: op.kind, inputs: ins, outputs: [out] });
        break;
      case 'BATCH_NORM':
        throw new Error(`internal: unfolded BATCH_NORM ${op.name}`);
    }
  }
  return {
    version: 3,
    description: `plastisort int8 classifier (${meta.labels.length} classes, ${meta.inputSize}x${meta.inputSize})`,
    tensors,
    operators,
    inputs: [valueTensor.get(graph.input)!],
    outputs: [valueTensor.get(graph.output)!],
    buffers,
    metadata: { plastisort: new TextEncoder().encode(JSON.stringify(meta)) },
  };
}

/** The same model without quantization parameters on CONV_2D / DEPTHWISE_CONV_2D biases (see BuildOptions). */
export function withoutConvBiasQuantParams(model: TfliteModel): TfliteModel {
  const biases = new Set<number>();
  for (const op of model.operators) {
    if ((op.op === 'CONV_2D' || op.op === 'DEPTHWISE_CONV_2D') && op.inputs[2] !== undefined && op.inputs[2] >= 0) biases.add(op.inputs[2]);
  }
  const tensors = model.tensors.map((t, i) => {
    if (!biases.has(i) || t.type !== 'int32' || !t.quantization) return t;
    const { quantization: _dropped, ...rest } = t;
    return rest;
  });
  return { ...model, tensors };
}

function argmaxRows(t: tf.Tensor): number[] {
  const data = t.dataSync();
  const k = t.shape[t.shape.length - 1]!;
  const out: number[] = [];
  for (let r = 0; r < data.length / k; r++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (data[r * k + j]! > data[r * k + best]!) best = j;
    out.push(best);
  }
  return out;
}

/** Top-1 predictions of a graph on images, scaled with `scaling`. */
export async function predictClasses(exec: IrExecutor, images: Uint8Array[], size: number, scaling: FloatScaling, batchSize = 8, onBatch?: (done: number) => void): Promise<number[]> {
  const preds: number[] = [];
  for (let s = 0; s < images.length; s += batchSize) {
    const x = imagesToBatch(images.slice(s, s + batchSize), size, scaling);
    const y = exec.run(x);
    preds.push(...argmaxRows(y));
    x.dispose();
    y.dispose();
    onBatch?.(Math.min(images.length, s + batchSize));
    await new Promise((r) => setImmediate(r));
  }
  return preds;
}

function score(preds: number[], floatPreds: number[], labels: number[]): SplitScore {
  const n = Math.max(1, preds.length);
  return {
    agreement: preds.filter((p, i) => p === floatPreds[i]).length / n,
    accuracy: preds.filter((p, i) => p === labels[i]).length / n,
  };
}

/** Float scaling that feeds the int8 model's view of byte p: x = s·(p − 128 − zp). */
function contractScaling(iq: InputQuantization): FloatScaling {
  return { scale: iq.scale, offset: -(128 + iq.zeroPoint) * iq.scale };
}

function metadataFor(config: QuantizeConfig): PlastisortMetadata {
  return {
    schema: 'plastisort.model/1',
    labels: [...config.classes],
    inputSize: config.inputSize,
    inputContract: 'rgb888_minus_128',
    floatScaling: { ...config.floatScaling },
    resize: config.resize,
    ...(config.manifestSha256 ? { manifestSha256: config.manifestSha256 } : {}),
    ...(config.runId ? { runId: config.runId } : {}),
  };
}

/** Top-1 classes of an int8 `.tflite` (input q = p − 128) run by LiteRT. */
export async function liteRtClasses(tflite: Uint8Array, images: Uint8Array[], onProgress?: (done: number) => void): Promise<number[]> {
  const model = await loadLiteRtModel(tflite);
  try {
    const preds: number[] = [];
    for (const img of images) {
      const [out] = await model.run([Int8Array.from(img, (p) => p - 128)]);
      const o = out!;
      let best = 0;
      for (let j = 1; j < o.length; j++) if (o[j]! > o[best]!) best = j;
      preds.push(best);
      if (preds.length % 8 === 0 || preds.length === images.length) onProgress?.(preds.length);
    }
    return preds;
  } finally {
    model.dispose();
  }
}

export interface QuantizeResult {
  tflite: Uint8Array;
  model: TfliteModel;
  report: QuantizeReport;
  /** The quantized graph (input offset compensation applied) and its parameters, for simulation. */
  graph: IrGraph;
  params: QuantParams;
}

/**
 * Lowers, calibrates and quantizes a float classifier; returns the `.tflite` bytes, the model and a report.
 * `calibration` are RGB888 images (inputSize² × 3 bytes) from the training split.
 */
export async function quantizeModel(model: tf.LayersModel, config: QuantizeConfig, calibration: Uint8Array[], opts: QuantizeOptions): Promise<QuantizeResult> {
  const t0 = performance.now();
  const progress = opts.onProgress ?? (() => {});
  const batchSize = opts.batchSize ?? 8;
  const percentile = opts.percentile ?? 99.99;
  if (calibration.length === 0) throw new UserError('no calibration images; give at least one training image (--calib N)');
  const floatGraph = lowerLayersModel(model);
  const inShape = floatGraph.values[floatGraph.input]!.shape;
  if (inShape[1] !== config.inputSize || inShape[2] !== config.inputSize || inShape[3] !== 3) {
    throw new UserError(`the model's input is ${JSON.stringify(inShape.slice(1))} but config says ${config.inputSize}×${config.inputSize}×3; the run folder is inconsistent`);
  }
  const outShape = floatGraph.values[floatGraph.output]!.shape;
  if (outShape.length !== 2 || outShape[1] !== config.classes.length) {
    throw new UserError(`the model outputs ${JSON.stringify(outShape)} but config lists ${config.classes.length} classes; the run folder is inconsistent`);
  }
  const iq = inputQuantization(config.floatScaling);
  const qGraph = cloneGraph(floatGraph);
  const compensated = opts.compensateInputOffset === false ? [] : compensateInputOffset(qGraph, iq.residualOffset);
  const lowerMs = performance.now() - t0;

  const t1 = performance.now();
  const stats = await collectStats(floatGraph, calibration, {
    floatScaling: config.floatScaling,
    batchSize,
    seed: opts.seed ?? 1,
    onBatch: (d) => progress('calibrate', d, calibration.length),
  });
  const calibrateMs = performance.now() - t1;

  const t2 = performance.now();
  const methods: CalibrationMethod[] = opts.method === 'auto' ? (opts.validation ? [...CALIBRATION_METHODS] : ['minmax']) : [opts.method];
  const candidates: QuantizeReport['candidates'] = [];
  let chosen: { method: CalibrationMethod; params: QuantParams; score?: SplitScore } | undefined;
  let validation: QuantizeReport['validation'];
  let effect: QuantizeReport['input']['effect'];
  const val = opts.validation && opts.validation.images.length > 0 ? opts.validation : undefined;
  if (val && val.images.length !== val.labels.length) throw new Error('validation images and labels differ in length');
  const meta = metadataFor(config);
  let evaluator: Int8Evaluator = opts.evaluator ?? 'litert';
  let floatPreds: number[] = [];
  const int8Score = async (graph: IrGraph, params: QuantParams, label: string): Promise<SplitScore> => {
    const v = val!;
    if (evaluator === 'litert') {
      try {
        // Scored with every bias quantized so that XNNPACK takes the convolutions whatever the shipped
        // form: the integers are the same, and LiteRT's built-in kernels take ~20× longer per image.
        const scored = buildTfliteModel(graph, params, meta, { biasQuantParams: true });
        const preds = await liteRtClasses(writeTflite(scored), v.images, (d) => progress(label, d, v.images.length));
        return score(preds, floatPreds, v.labels);
      } catch (e) {
        log.warn(`LiteRT could not run the candidate model (${(e as Error).message}); scoring by int8 simulation instead`);
        evaluator = 'simulate';
      }
    }
    const exec = new IrExecutor(graph, fakeQuantOf(graph, params));
    const preds = await predictClasses(exec, v.images, config.inputSize, contractScaling(iq), batchSize, (d) => progress(label, d, v.images.length));
    exec.dispose();
    return score(preds, floatPreds, v.labels);
  };
  if (val) {
    const exec = new IrExecutor(floatGraph);
    floatPreds = await predictClasses(exec, val.images, config.inputSize, config.floatScaling, batchSize, (d) => progress('validate float', d, val.images.length));
    exec.dispose();
  }
  for (const method of methods) {
    const params = assignQuantParams(qGraph, stats, iq, method, percentile);
    if (val) {
      const s = await int8Score(qGraph, params, `validate int8 ${method}`);
      candidates.push({ method, ...s });
      const better = !chosen || s.agreement > chosen.score!.agreement || (s.agreement === chosen.score!.agreement && s.accuracy > chosen.score!.accuracy);
      if (better) chosen = { method, params, score: s };
    } else {
      candidates.push({ method });
      chosen ??= { method, params };
    }
  }
  if (!chosen) throw new Error('internal: no calibration method evaluated');
  if (val) {
    const floatAccuracy = floatPreds.filter((p, i) => p === val.labels[i]).length / val.images.length;
    validation = { images: val.images.length, floatAccuracy, int8: chosen.score!, evaluator };
  }
  const validateMs = performance.now() - t2;
  const tOffset = performance.now();
  if (val && chosen.score && opts.measureInputOffset !== false && compensated.length > 0) {
    const uncompensated = await int8Score(floatGraph, assignQuantParams(floatGraph, stats, iq, chosen.method, percentile), 'input offset: uncompensated');
    effect = { shipped: chosen.score, uncompensated, evaluator };
  }
  const offsetEffectMs = performance.now() - tOffset;

  const t3 = performance.now();
  const tfliteModel = buildTfliteModel(qGraph, chosen.params, meta, { biasQuantParams: opts.biasQuantParams ?? true });
  const tflite = writeTflite(tfliteModel);
  const writeMs = performance.now() - t3;

  let int8WeightBytes = 0;
  let int32BiasBytes = 0;
  let biasesSaturated = 0;
  for (const q of chosen.params.weights.values()) {
    int8WeightBytes += q.weights.byteLength;
    int32BiasBytes += q.bias.byteLength;
    biasesSaturated += q.biasSaturated;
  }
  const allConst = tfliteModel.buffers.reduce((n, b) => n + b.byteLength, 0);
  const tensors: TensorReport[] = [];
  const seen = new Set<number>();
  for (const id of [qGraph.input, ...qGraph.ops.map((op) => op.output)]) {
    if (seen.has(id)) continue;
    seen.add(id);
    const q = chosen.params.activations.get(id)!;
    const s = stats.get(id);
    tensors.push({ name: qGraph.values[id]!.name, shape: qGraph.values[id]!.shape, observedMin: s?.min ?? q.min, observedMax: s?.max ?? q.max, min: q.min, max: q.max, scale: q.scale, zeroPoint: q.zeroPoint });
  }
  const report: QuantizeReport = {
    schema: 'plastisort.quantize-report/1',
    ...(config.runId ? { runId: config.runId } : {}),
    classes: [...config.classes],
    inputSize: config.inputSize,
    methodRequested: opts.method,
    method: chosen.method,
    percentile,
    candidates,
    ...(validation ? { validation } : {}),
    input: {
      scale: iq.scale,
      zeroPoint: iq.zeroPoint,
      exactZeroPoint: iq.exactZeroPoint,
      residualOffset: iq.residualOffset,
      residualOffsetLsb: iq.residualOffset / iq.scale,
      compensatedInFirstLayer: compensated.length > 0,
      compensatedOps: compensated,
      ...(effect ? { effect } : {}),
    },
    calibration: { images: calibration.length, sampleBudget: 131072 },
    lowering: { notes: floatGraph.notes, ops: opCounts(qGraph) },
    tensors,
    sizes: {
      int8WeightBytes,
      int32BiasBytes,
      otherConstantBytes: allConst - int8WeightBytes - int32BiasBytes,
      tfliteBytes: tflite.byteLength,
      overheadPercent: (100 * (tflite.byteLength - int8WeightBytes - int32BiasBytes)) / Math.max(1, int8WeightBytes + int32BiasBytes),
      biasesSaturated,
      biasQuantParams: opts.biasQuantParams ?? true,
    },
    timings: { lowerMs, calibrateMs, validateMs, offsetEffectMs, writeMs, totalMs: performance.now() - t0 },
  };
  return { tflite, model: tfliteModel, report, graph: qGraph, params: chosen.params };
}
