/**
 * Small hand-built TfliteModels for the tflite tests, with a deterministic pseudo-random source so
 * every run builds the same bytes.
 */
import { expect } from 'vitest';
import type { ArenaPlan } from '../../host/tflite/arena.ts';
import { createRng } from '../../host/util/rng.ts';
import type { Quantization, Tensor, TensorType, TfliteModel } from '../../host/tflite/model.ts';


export function f32Bytes(values: ArrayLike<number>): Uint8Array {
  const a = Float32Array.from(values);
  return new Uint8Array(a.buffer);
}
export function i32Bytes(values: ArrayLike<number>): Uint8Array {
  const a = Int32Array.from(values);
  return new Uint8Array(a.buffer);
}
export function i8Bytes(values: ArrayLike<number>): Uint8Array {
  const a = Int8Array.from(values);
  return new Uint8Array(a.buffer);
}

/** Accumulates tensors and buffers; `constant` adds a buffer, `activation` points at buffer 0. */
export class GraphBuilder {
  readonly model: TfliteModel = {
    version: 3,
    description: 'test model',
    tensors: [],
    operators: [],
    inputs: [],
    outputs: [],
    buffers: [new Uint8Array(0)],
    metadata: {},
  };

  activation(name: string, shape: number[], type: TensorType = 'float32', quantization?: Quantization): number {
    const t: Tensor = { name, shape, type, buffer: 0 };
    if (quantization) t.quantization = quantization;
    this.model.tensors.push(t);
    return this.model.tensors.length - 1;
  }

  constant(name: string, shape: number[], type: TensorType, data: Uint8Array, quantization?: Quantization): number {
    this.model.buffers.push(data);
    const t: Tensor = { name, shape, type, buffer: this.model.buffers.length - 1 };
    if (quantization) t.quantization = quantization;
    this.model.tensors.push(t);
    return this.model.tensors.length - 1;
  }
}

export function randomFloats(n: number, r: () => number, scale = 1): number[] {
  return Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/**
 * Float chain covering every op the writer emits for the classifier:
 * CONV_2D → DEPTHWISE_CONV_2D → ADD → AVERAGE_POOL_2D → MEAN → FULLY_CONNECTED → RESHAPE → SOFTMAX.
 */
export function floatChainModel(seed = 1): TfliteModel {
  const r = createRng(seed);
  const g = new GraphBuilder();
  const x = g.activation('input', [1, 8, 8, 3]);
  const w1 = g.constant('conv/w', [4, 3, 3, 3], 'float32', f32Bytes(randomFloats(4 * 27, r, 0.5)));
  const b1 = g.constant('conv/b', [4], 'float32', f32Bytes(randomFloats(4, r, 0.1)));
  const t1 = g.activation('conv', [1, 8, 8, 4]);
  const w2 = g.constant('dw/w', [1, 3, 3, 4], 'float32', f32Bytes(randomFloats(36, r, 0.5)));
  const b2 = g.constant('dw/b', [4], 'float32', f32Bytes(randomFloats(4, r, 0.1)));
  const t2 = g.activation('dw', [1, 8, 8, 4]);
  const t3 = g.activation('add', [1, 8, 8, 4]);
  const t4 = g.activation('pool', [1, 4, 4, 4]);
  const axes = g.constant('mean/axes', [2], 'int32', i32Bytes([1, 2]));
  const t5 = g.activation('mean', [1, 4]);
  const w6 = g.constant('fc/w', [5, 4], 'float32', f32Bytes(randomFloats(20, r, 1)));
  const b6 = g.constant('fc/b', [5], 'float32', f32Bytes(randomFloats(5, r, 0.1)));
  const t6 = g.activation('fc', [1, 5]);
  const shape = g.constant('reshape/shape', [2], 'int32', i32Bytes([1, 5]));
  const t7 = g.activation('reshape', [1, 5]);
  const t8 = g.activation('probs', [1, 5]);
  const m = g.model;
  const conv = { padding: 'SAME', strideW: 1, strideH: 1, dilationW: 1, dilationH: 1 } as const;
  m.operators.push(
    { op: 'CONV_2D', inputs: [x, w1, b1], outputs: [t1], options: { ...conv, fusedActivation: 'RELU6' } },
    {
      op: 'DEPTHWISE_CONV_2D',
      inputs: [t1, w2, b2],
      outputs: [t2],
      options: { ...conv, fusedActivation: 'RELU', depthMultiplier: 1 },
    },
    { op: 'ADD', inputs: [t1, t2], outputs: [t3], options: { fusedActivation: 'NONE' } },
    {
      op: 'AVERAGE_POOL_2D',
      inputs: [t3],
      outputs: [t4],
      options: { padding: 'VALID', strideW: 2, strideH: 2, filterWidth: 2, filterHeight: 2, fusedActivation: 'NONE' },
    },
    { op: 'MEAN', inputs: [t4, axes], outputs: [t5], options: { keepDims: false } },
    { op: 'FULLY_CONNECTED', inputs: [t5, w6, b6], outputs: [t6], options: { fusedActivation: 'NONE', keepNumDims: false } },
    { op: 'RESHAPE', inputs: [t6, shape], outputs: [t7], options: { newShape: [1, 5] } },
    { op: 'SOFTMAX', inputs: [t7], outputs: [t8], options: { beta: 1 } },
  );
  m.inputs = [x];
  m.outputs = [t8];
  return m;
}

function q(scale: number, zeroPoint: number): Quantization {
  return { scale: [scale], zeroPoint: [zeroPoint] };
}

function randomInt8(n: number, r: () => number): number[] {
  return Array.from({ length: n }, () => Math.floor(r() * 255) - 127);
}

/** The same chain in int8, per-channel conv weights, int32 biases, int8 softmax (1/256, −128). */
export function int8ChainModel(seed = 2): TfliteModel {
  const r = createRng(seed);
  const g = new GraphBuilder();
  const x = g.activation('input', [1, 8, 8, 3], 'int8', q(1 / 128, 0));
  const w1Scales = [0.01, 0.02, 0.015, 0.005];
  const w1 = g.constant('conv/w', [4, 3, 3, 3], 'int8', i8Bytes(randomInt8(4 * 27, r)), {
    scale: w1Scales,
    zeroPoint: [0, 0, 0, 0],
    quantizedDimension: 0,
  });
  const b1 = g.constant('conv/b', [4], 'int32', i32Bytes([10, -20, 30, 0]), {
    scale: w1Scales.map((s) => s / 128),
    zeroPoint: [0, 0, 0, 0],
    quantizedDimension: 0,
  });
  const t1 = g.activation('conv', [1, 8, 8, 4], 'int8', q(6 / 255, -128));
  const w2Scales = [0.02, 0.01, 0.03, 0.01];
  const w2 = g.constant('dw/w', [1, 3, 3, 4], 'int8', i8Bytes(randomInt8(36, r)), {
    scale: w2Scales,
    zeroPoint: [0, 0, 0, 0],
    quantizedDimension: 3,
  });
  const b2 = g.constant('dw/b', [4], 'int32', i32Bytes([5, 5, -5, 0]), {
    scale: w2Scales.map((s) => (s * 6) / 255),
    zeroPoint: [0, 0, 0, 0],
    quantizedDimension: 0,
  });
  const t2 = g.activation('dw', [1, 8, 8, 4], 'int8', q(0.05, -128));
  const t3 = g.activation('add', [1, 8, 8, 4], 'int8', q(0.06, -128));
  const t4 = g.activation('pool', [1, 4, 4, 4], 'int8', q(0.06, -128));
  const axes = g.constant('mean/axes', [2], 'int32', i32Bytes([1, 2]));
  const t5 = g.activation('mean', [1, 4], 'int8', q(0.05, -128));
  const w6 = g.constant('fc/w', [5, 4], 'int8', i8Bytes(randomInt8(20, r)), q(0.01, 0));
  const b6 = g.constant('fc/b', [5], 'int32', i32Bytes([100, -100, 0, 50, -50]), q(0.0005, 0));
  const t6 = g.activation('fc', [1, 5], 'int8', q(0.1, 0));
  const shape = g.constant('reshape/shape', [2], 'int32', i32Bytes([1, 5]));
  const t7 = g.activation('reshape', [1, 5], 'int8', q(0.1, 0));
  const t8 = g.activation('probs', [1, 5], 'int8', q(1 / 256, -128));
  const m = g.model;
  const conv = { padding: 'SAME', strideW: 2, strideH: 2, dilationW: 1, dilationH: 1 } as const;
  m.tensors[t1]!.shape = [1, 4, 4, 4];
  m.tensors[t2]!.shape = [1, 4, 4, 4];
  m.tensors[t3]!.shape = [1, 4, 4, 4];
  m.tensors[t4]!.shape = [1, 2, 2, 4];
  m.operators.push(
    { op: 'CONV_2D', inputs: [x, w1, b1], outputs: [t1], options: { ...conv, fusedActivation: 'RELU6' } },
    {
      op: 'DEPTHWISE_CONV_2D',
      inputs: [t1, w2, b2],
      outputs: [t2],
      options: { ...conv, strideW: 1, strideH: 1, fusedActivation: 'NONE', depthMultiplier: 1 },
    },
    { op: 'ADD', inputs: [t1, t2], outputs: [t3], options: { fusedActivation: 'NONE' } },
    {
      op: 'AVERAGE_POOL_2D',
      inputs: [t3],
      outputs: [t4],
      options: { padding: 'VALID', strideW: 2, strideH: 2, filterWidth: 2, filterHeight: 2, fusedActivation: 'NONE' },
    },
    { op: 'MEAN', inputs: [t4, axes], outputs: [t5], options: { keepDims: false } },
    { op: 'FULLY_CONNECTED', inputs: [t5, w6, b6], outputs: [t6], options: { fusedActivation: 'NONE', keepNumDims: false } },
    { op: 'RESHAPE', inputs: [t6, shape], outputs: [t7], options: { newShape: [1, 5] } },
    { op: 'SOFTMAX', inputs: [t7], outputs: [t8], options: { beta: 1 } },
  );
  m.inputs = [x];
  m.outputs = [t8];
  m.metadata = { plastisort: new TextEncoder().encode('{"schema":"plastisort.model/1"}'), other: new Uint8Array([1, 2, 3]) };
  return m;
}

/** No two tensors that are live at the same time may share bytes, and offsets are 16-aligned. */
export function expectValidArena(plan: ArenaPlan): void {
  for (const a of plan.tensors) {
    expect(a.offset % 16).toBe(0);
    expect(a.offset + a.bytes).toBeLessThanOrEqual(plan.peakBytes);
    for (const b of plan.tensors) {
      if (a === b) continue;
      const liveTogether = a.firstOp <= b.lastOp && b.firstOp <= a.lastOp;
      const overlap = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
      if (liveTogether && a.bytes > 0 && b.bytes > 0) expect(overlap).toBe(false);
    }
  }
}

