/**
 * Small full-int8 classifiers for the export tests, built as TfliteModels and written with the
 * project's writer. Deterministic: the same arguments give the same bytes.
 */
import type { Operator, Quantization, Tensor, TensorType, TfliteModel } from '../../host/tflite/model.ts';
import { withPlastisortMetadata } from '../../host/tflite/plastisort-metadata.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const q = (scale: number, zeroPoint: number): Quantization => ({ scale: [scale], zeroPoint: [zeroPoint] });

export interface FixtureOptions {
  seed?: number;
  size?: number;
  labels?: string[];
  /** Adds a depthwise convolution and a residual ADD after the first convolution. */
  residual?: boolean;
  metadata?: boolean;
}

export function int8Classifier(o: FixtureOptions = {}): TfliteModel {
  const seed = o.seed ?? 1;
  const size = o.size ?? 8;
  const labels = o.labels ?? ['PET', 'HDPE', 'PP'];
  const r = lcg(seed);
  const tensors: Tensor[] = [];
  const buffers: Uint8Array[] = [new Uint8Array(0)];
  const operators: Operator[] = [];
  const act = (name: string, shape: number[], type: TensorType, quant?: Quantization) => {
    tensors.push({ name, shape, type, buffer: 0, ...(quant ? { quantization: quant } : {}) });
    return tensors.length - 1;
  };
  const constant = (name: string, shape: number[], type: TensorType, data: Uint8Array, quant?: Quantization) => {
    buffers.push(data);
    tensors.push({ name, shape, type, buffer: buffers.length - 1, ...(quant ? { quantization: quant } : {}) });
    return tensors.length - 1;
  };
  const int8s = (n: number) => new Uint8Array(Int8Array.from({ length: n }, () => Math.round(r() * 254 - 127)).buffer);
  const int32s = (vals: number[]) => new Uint8Array(Int32Array.from(vals).buffer);
  const C = 4;
  const K = labels.length;

  const input = act('input', [1, size, size, 3], 'int8', q(1 / 127.5, -1));
  const w1 = constant('conv/w', [C, 3, 3, 3], 'int8', int8s(C * 27), {
    scale: Array.from({ length: C }, (_, i) => 0.01 + i * 0.001),
    zeroPoint: Array(C).fill(0),
    quantizedDimension: 0,
  });
  const b1 = constant('conv/b', [C], 'int32', int32s(Array.from({ length: C }, (_, i) => i * 10)), {
    scale: Array.from({ length: C }, (_, i) => (0.01 + i * 0.001) / 127.5),
    zeroPoint: Array(C).fill(0),
    quantizedDimension: 0,
  });
  const conv = act('conv', [1, size, size, C], 'int8', q(6 / 255, -128));
  const convOptions = { padding: 'SAME' as const, strideW: 1, strideH: 1, dilationW: 1, dilationH: 1, fusedActivation: 'RELU6' as const };
  operators.push({ op: 'CONV_2D', inputs: [input, w1, b1], outputs: [conv], options: convOptions });
  let features = conv;
  if (o.residual) {
    const w2 = constant('dw/w', [1, 3, 3, C], 'int8', int8s(9 * C), {
      scale: Array(C).fill(0.02),
      zeroPoint: Array(C).fill(0),
      quantizedDimension: 3,
    });
    const b2 = constant('dw/b', [C], 'int32', int32s(Array(C).fill(0)), {
      scale: Array(C).fill((0.02 * 6) / 255),
      zeroPoint: Array(C).fill(0),
      quantizedDimension: 0,
    });
    const dw = act('dw', [1, size, size, C], 'int8', q(6 / 255, -128));
    operators.push({ op: 'DEPTHWISE_CONV_2D', inputs: [conv, w2, b2], outputs: [dw], options: { ...convOptions, depthMultiplier: 1 } });
    const add = act('add', [1, size, size, C], 'int8', q(12 / 255, -128));
    operators.push({ op: 'ADD', inputs: [conv, dw], outputs: [add], options: { fusedActivation: 'NONE' } });
    features = add;
  }
  const axes = constant('mean/axes', [2], 'int32', int32s([1, 2]));
  const pooled = act('mean', [1, C], 'int8', q(6 / 255, -128));
  operators.push({ op: 'MEAN', inputs: [features, axes], outputs: [pooled], options: { keepDims: false } });
  const w3 = constant('fc/w', [K, C], 'int8', int8s(K * C), { scale: Array(K).fill(0.05), zeroPoint: Array(K).fill(0), quantizedDimension: 0 });
  const b3 = constant('fc/b', [K], 'int32', int32s(Array(K).fill(0)), q((0.05 * 6) / 255, 0));
  const logits = act('logits', [1, K], 'int8', q(0.1, 0));
  operators.push({ op: 'FULLY_CONNECTED', inputs: [pooled, w3, b3], outputs: [logits], options: { fusedActivation: 'NONE', keepNumDims: false } });
  const probs = act('probs', [1, K], 'int8', q(1 / 256, -128));
  operators.push({ op: 'SOFTMAX', inputs: [logits], outputs: [probs], options: { beta: 1 } });

  const model: TfliteModel = {
    version: 3,
    description: 'plastisort export test model',
    tensors,
    operators,
    inputs: [input],
    outputs: [probs],
    buffers,
    metadata: {},
  };
  if (o.metadata === false) return model;
  return withPlastisortMetadata(model, {
    schema: 'plastisort.model/1',
    labels,
    inputSize: size,
    inputContract: 'rgb888_minus_128',
    floatScaling: { scale: 1 / 127.5, offset: -1 },
    resize: 'center-crop',
  });
}
