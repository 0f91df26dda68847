/**
 * Small int8 models for comparing the int8 reference engine with LiteRT: random weights, per-channel
 * and per-tensor quantization, and output scales chosen so activations use most of the int8 range.
 */
import type { FusedActivation, Padding, Quantization, Tensor, TfliteModel } from '../../host/tflite/model.ts';

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function bytesOf(a: Int8Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Standard deviation, in LSB, we aim activations at. */
const TARGET_STD = 45;
/** Std of uniform int8 weights in [-127, 127]. */
const WEIGHT_STD = 73;

export class QuantGraph {
  readonly model: TfliteModel = {
    version: 3,
    description: 'int8 engine comparison model',
    tensors: [],
    operators: [],
    inputs: [],
    outputs: [],
    buffers: [new Uint8Array(0)],
    metadata: {},
  };
  readonly scaleOf: number[] = [];
  constructor(private readonly r: () => number) {}

  private push(t: Tensor, scale: number): number {
    this.model.tensors.push(t);
    this.scaleOf.push(scale);
    return this.model.tensors.length - 1;
  }

  act(name: string, shape: number[], scale: number, zeroPoint: number): number {
    return this.push({ name, shape, type: 'int8', buffer: 0, quantization: { scale: [scale], zeroPoint: [zeroPoint] } }, scale);
  }

  constant(name: string, shape: number[], type: 'int8' | 'int32', data: Int8Array | Int32Array, quantization?: Quantization): number {
    this.model.buffers.push(bytesOf(data).slice());
    const t: Tensor = { name, shape, type, buffer: this.model.buffers.length - 1 };
    if (quantization) t.quantization = quantization;
    return this.push(t, quantization?.scale[0] ?? 0);
  }

  /** Weights [outC, ...] (or [1, kh, kw, outC] for depthwise, channel axis 3) with per-channel or per-tensor scales. */
  weights(name: string, shape: number[], channelAxis: number, perChannel: boolean): { index: number; scales: number[] } {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Int8Array.from({ length: n }, () => Math.round(this.r() * 254) - 127);
    const channels = shape[channelAxis]!;
    const base = 0.004 + this.r() * 0.01;
    const scales = perChannel ? Array.from({ length: channels }, () => base * (0.5 + this.r())) : [base];
    const q: Quantization = { scale: scales, zeroPoint: scales.map(() => 0) };
    if (perChannel) q.quantizedDimension = channelAxis;
    return { index: this.constant(name, shape, 'int8', data, q), scales };
  }

  bias(name: string, inputScale: number, wScales: number[], channels: number, accStd: number): number {
    // Per-tensor weights get a per-tensor bias scale (one entry), as converters write it.
    const scales = wScales.map((w) => inputScale * w);
    const data = Int32Array.from({ length: channels }, () => Math.round((this.r() * 2 - 1) * accStd * 0.5));
    return this.constant(name, [channels], 'int32', data, { scale: scales, zeroPoint: scales.map(() => 0) });
  }

  /** Output scale for an accumulator of `fanIn` products so its std lands near TARGET_STD LSB. */
  outScale(inputScale: number, wScales: number[], fanIn: number): number {
    const w = wScales.reduce((a, b) => a + b, 0) / wScales.length;
    return (inputScale * w * Math.sqrt(fanIn) * WEIGHT_STD * 60) / TARGET_STD;
  }

  conv(
    name: string,
    x: number,
    outC: number,
    k: number,
    stride: number,
    padding: Padding,
    act: FusedActivation,
    perChannel: boolean,
  ): number {
    const [n, h, w, c] = this.model.tensors[x]!.shape as [number, number, number, number];
    const inScale = this.scaleOf[x]!;
    const wt = this.weights(`${name}/weights`, [outC, k, k, c], 0, perChannel);
    const fanIn = k * k * c;
    const b = this.bias(`${name}/bias`, inScale, wt.scales, outC, Math.sqrt(fanIn) * WEIGHT_STD * 60);
    const oh = padding === 'SAME' ? Math.ceil(h / stride) : Math.floor((h - k) / stride) + 1;
    const ow = padding === 'SAME' ? Math.ceil(w / stride) : Math.floor((w - k) / stride) + 1;
    const relu = act === 'RELU' || act === 'RELU6';
    const y = this.act(name, [n, oh, ow, outC], this.outScale(inScale, wt.scales, fanIn), relu ? -128 : Math.round(this.r() * 10 - 5));
    this.model.operators.push({
      op: 'CONV_2D',
      inputs: [x, wt.index, b],
      outputs: [y],
      options: { padding, strideW: stride, strideH: stride, dilationW: 1, dilationH: 1, fusedActivation: act },
    });
    return y;
  }

  depthwise(name: string, x: number, multiplier: number, k: number, stride: number, padding: Padding, act: FusedActivation): number {
    const [n, h, w, c] = this.model.tensors[x]!.shape as [number, number, number, number];
    const inScale = this.scaleOf[x]!;
    const outC = c * multiplier;
    const wt = this.weights(`${name}/weights`, [1, k, k, outC], 3, true);
    const b = this.bias(`${name}/bias`, inScale, wt.scales, outC, k * WEIGHT_STD * 60);
    const oh = padding === 'SAME' ? Math.ceil(h / stride) : Math.floor((h - k) / stride) + 1;
    const ow = padding === 'SAME' ? Math.ceil(w / stride) : Math.floor((w - k) / stride) + 1;
    const relu = act === 'RELU' || act === 'RELU6';
    const y = this.act(name, [n, oh, ow, outC], this.outScale(inScale, wt.scales, k * k), relu ? -128 : 0);
    this.model.operators.push({
      op: 'DEPTHWISE_CONV_2D',
      inputs: [x, wt.index, b],
      outputs: [y],
      options: { padding, strideW: stride, strideH: stride, dilationW: 1, dilationH: 1, fusedActivation: act, depthMultiplier: multiplier },
    });
    return y;
  }

  add(name: string, a: number, b: number): number {
    const scale = (this.scaleOf[a]! + this.scaleOf[b]!) * 0.8;
    const y = this.act(name, [...this.model.tensors[a]!.shape], scale, 2);
    this.model.operators.push({ op: 'ADD', inputs: [a, b], outputs: [y], options: { fusedActivation: 'NONE' } });
    return y;
  }

  mean(name: string, x: number, keepDims: boolean, sameQuant = false): number {
    const [n, , , c] = this.model.tensors[x]!.shape as [number, number, number, number];
    const axes = this.constant(`${name}/axes`, [2], 'int32', Int32Array.from([1, 2]));
    const t = this.model.tensors[x]!;
    const scale = sameQuant ? this.scaleOf[x]! : this.scaleOf[x]! * 0.7;
    const zp = sameQuant ? t.quantization!.zeroPoint[0]! : -20;
    const y = this.act(name, keepDims ? [n, 1, 1, c] : [n, c], scale, zp);
    this.model.operators.push({ op: 'MEAN', inputs: [x, axes], outputs: [y], options: { keepDims } });
    return y;
  }

  averagePool(name: string, x: number, k: number, stride: number): number {
    const t = this.model.tensors[x]!;
    const [n, h, w, c] = t.shape as [number, number, number, number];
    const y = this.act(name, [n, Math.floor((h - k) / stride) + 1, Math.floor((w - k) / stride) + 1, c], this.scaleOf[x]!, t.quantization!.zeroPoint[0]!);
    this.model.operators.push({
      op: 'AVERAGE_POOL_2D',
      inputs: [x],
      outputs: [y],
      options: { padding: 'VALID', strideW: stride, strideH: stride, filterWidth: k, filterHeight: k, fusedActivation: 'NONE' },
    });
    return y;
  }

  pad(name: string, x: number, p: number): number {
    const t = this.model.tensors[x]!;
    const [n, h, w, c] = t.shape as [number, number, number, number];
    const pads = this.constant(`${name}/paddings`, [4, 2], 'int32', Int32Array.from([0, 0, p, p, p, p, 0, 0]));
    const y = this.act(name, [n, h + 2 * p, w + 2 * p, c], this.scaleOf[x]!, t.quantization!.zeroPoint[0]!);
    this.model.operators.push({ op: 'PAD', inputs: [x, pads], outputs: [y] });
    return y;
  }

  reshape(name: string, x: number, shape: number[]): number {
    const t = this.model.tensors[x]!;
    const s = this.constant(`${name}/shape`, [shape.length], 'int32', Int32Array.from(shape));
    const y = this.act(name, shape, this.scaleOf[x]!, t.quantization!.zeroPoint[0]!);
    this.model.operators.push({ op: 'RESHAPE', inputs: [x, s], outputs: [y], options: { newShape: shape } });
    return y;
  }

  fullyConnected(name: string, x: number, units: number, perChannel: boolean): number {
    const t = this.model.tensors[x]!;
    const depth = t.shape[t.shape.length - 1]!;
    const inScale = this.scaleOf[x]!;
    const wt = this.weights(`${name}/weights`, [units, depth], 0, perChannel);
    const b = this.bias(`${name}/bias`, inScale, wt.scales, units, Math.sqrt(depth) * WEIGHT_STD * 60);
    const y = this.act(name, [1, units], this.outScale(inScale, wt.scales, depth) * 0.6, Math.round(this.r() * 10 - 5));
    this.model.operators.push({
      op: 'FULLY_CONNECTED',
      inputs: [x, wt.index, b],
      outputs: [y],
      options: { fusedActivation: 'NONE', keepNumDims: false },
    });
    return y;
  }

  /** Standalone activation (the exporter keeps one when it cannot fuse it). RELU re-zero-points its output. */
  activation(name: string, x: number, kind: 'RELU' | 'RELU6'): number {
    const t = this.model.tensors[x]!;
    const zp = kind === 'RELU' ? -128 : t.quantization!.zeroPoint[0]!;
    const y = this.act(name, [...t.shape], this.scaleOf[x]!, zp);
    this.model.operators.push({ op: kind, inputs: [x], outputs: [y] });
    return y;
  }

  softmax(name: string, x: number): number {
    const y = this.act(name, [...this.model.tensors[x]!.shape], 1 / 256, -128);
    this.model.operators.push({ op: 'SOFTMAX', inputs: [x], outputs: [y], options: { beta: 1 } });
    return y;
  }
}

export interface TestModel {
  name: string;
  model: TfliteModel;
  inputShape: number[];
}

/** An inverted-residual block: CONV(s2, RELU6) → DW(RELU6) → CONV 1x1 → ADD; output = the ADD. */
export function blockModel(seed: number): TestModel {
  const g = new QuantGraph(rng(seed));
  const x = g.act('input', [1, 12, 12, 3], 1 / 127.5, -1);
  const c1 = g.conv('expand', x, 8, 3, 2, 'SAME', 'RELU6', true);
  const d = g.depthwise('depthwise', c1, 1, 3, 1, 'SAME', 'RELU6');
  const p = g.conv('project', d, 8, 1, 1, 'SAME', 'NONE', true);
  const a = g.add('add', p, c1);
  g.model.inputs = [x];
  g.model.outputs = [a];
  return { name: 'block (conv/dw/conv/add)', model: g.model, inputShape: [1, 12, 12, 3] };
}

/** Head: MEAN(H,W) → FULLY_CONNECTED (per-tensor) → [SOFTMAX]. */
export function headModel(seed: number, withSoftmax: boolean, keepDims: boolean): TestModel {
  const g = new QuantGraph(rng(seed));
  const x = g.act('features', [1, 5, 5, 16], 0.05, -128);
  let m = g.mean('pool', x, keepDims);
  if (keepDims) m = g.reshape('flatten', m, [1, 16]);
  const fc = g.fullyConnected('logits', m, 6, false);
  const out = withSoftmax ? g.softmax('probs', fc) : fc;
  g.model.inputs = [x];
  g.model.outputs = [out];
  return { name: `head (mean keep_dims=${keepDims} / fc${withSoftmax ? ' / softmax' : ''})`, model: g.model, inputShape: [1, 5, 5, 16] };
}

/** PAD → DW (multiplier 2, VALID) → CONV (VALID, s2, RELU) → AVERAGE_POOL → RESHAPE → FC (per-channel). */
export function padPoolModel(seed: number): TestModel {
  const g = new QuantGraph(rng(seed));
  const x = g.act('input', [1, 11, 11, 4], 1 / 64, 3);
  const p = g.pad('pad', x, 1);
  const d = g.depthwise('dw', p, 2, 3, 1, 'VALID', 'NONE');
  const c = g.conv('conv', d, 6, 3, 2, 'VALID', 'RELU', false);
  const pool = g.averagePool('avgpool', c, 2, 2);
  const shape = g.model.tensors[pool]!.shape;
  const flat = g.reshape('flatten', pool, [1, shape.reduce((a, b) => a * b, 1)]);
  const fc = g.fullyConnected('fc', flat, 7, true);
  g.model.inputs = [x];
  g.model.outputs = [fc];
  return { name: 'pad/dw x2/conv valid/avgpool/reshape/fc per-channel', model: g.model, inputShape: [1, 11, 11, 4] };
}

/** CONV → standalone RELU → DW → standalone RELU6 (both kept unfused, as when a value has two consumers). */
export function standaloneActivationModel(seed: number): TestModel {
  const g = new QuantGraph(rng(seed));
  const x = g.act('input', [1, 9, 9, 3], 1 / 127.5, -1);
  const c = g.conv('conv', x, 6, 3, 1, 'SAME', 'NONE', true);
  const r = g.activation('relu', c, 'RELU');
  const d = g.depthwise('dw', r, 1, 3, 1, 'SAME', 'NONE');
  const r6 = g.activation('relu6', d, 'RELU6');
  g.model.inputs = [x];
  g.model.outputs = [r6];
  return { name: 'conv/relu/dw/relu6 (standalone activations)', model: g.model, inputShape: [1, 9, 9, 3] };
}

/**
 * CONV 1x1 → DEPTHWISE 3x3 whose requantization scales are exactly 1/2 (s_in · s_w / s_out), with
 * weights in {-1, 0, 1}: about half of all accumulators are odd, so their scaled value is an exact tie.
 * TFLM rounds such ties up (single rounding) or away from zero (double); XNNPACK's float requantization
 * rounds them to even. This model tells the arithmetics apart on nearly every other value.
 */
export function tieModel(seed: number): TestModel {
  const r = rng(seed);
  const g = new QuantGraph(r);
  const ternary = (n: number) => Int8Array.from({ length: n }, () => Math.floor(r() * 3) - 1);
  const bias = (name: string, n: number, scale: number) =>
    g.constant(name, [n], 'int32', Int32Array.from({ length: n }, () => Math.floor(r() * 21) - 10), { scale: [scale], zeroPoint: [0] });
  const x = g.act('input', [1, 6, 6, 4], 0.5, 0);
  const w1 = g.constant('conv/weights', [8, 1, 1, 4], 'int8', ternary(32), { scale: [0.25], zeroPoint: [0] });
  const c = g.act('conv', [1, 6, 6, 8], 0.25, 3);
  g.model.operators.push({
    op: 'CONV_2D',
    inputs: [x, w1, bias('conv/bias', 8, 0.125)],
    outputs: [c],
    options: { padding: 'SAME', strideW: 1, strideH: 1, dilationW: 1, dilationH: 1, fusedActivation: 'NONE' },
  });
  const scales = Array.from({ length: 8 }, () => 0.25);
  const w2 = g.constant('dw/weights', [1, 3, 3, 8], 'int8', ternary(72), { scale: scales, zeroPoint: scales.map(() => 0), quantizedDimension: 3 });
  const d = g.act('dw', [1, 6, 6, 8], 0.125, -2);
  g.model.operators.push({
    op: 'DEPTHWISE_CONV_2D',
    inputs: [c, w2, g.constant('dw/bias', [8], 'int32', Int32Array.from({ length: 8 }, () => Math.floor(r() * 21) - 10), { scale: scales.map((s) => s * 0.25), zeroPoint: scales.map(() => 0), quantizedDimension: 0 })],
    outputs: [d],
    options: { padding: 'SAME', strideW: 1, strideH: 1, dilationW: 1, dilationH: 1, fusedActivation: 'NONE', depthMultiplier: 1 },
  });
  g.model.inputs = [x];
  g.model.outputs = [d];
  return { name: 'conv 1x1 / dw 3x3 with exact-tie requantization scales (1/2)', model: g.model, inputShape: [1, 6, 6, 4] };
}
