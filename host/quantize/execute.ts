/**
 * Float reference executor for the IR, on whatever tfjs backend is active. Used for calibration (every
 * value is handed to a callback), for checking lowering against `model.predict`, and with `FakeQuant` to
 * simulate int8 inference (weights and biases dequantized from their integers, every activation rounded
 * to its int8 grid and clamped) when choosing a calibration method.
 */
import * as tf from '@tensorflow/tfjs';
import type { IrGraph, IrOp } from './ir.ts';

export interface ActQuant {
  scale: number;
  zeroPoint: number;
}

export interface FakeQuant {
  /** Activation quantization per value id (the graph input included); values without an entry stay float. */
  activations: Map<number, ActQuant>;
  /** Dequantized weights and biases (same layout as the IR op) per op name. */
  params: Map<string, { weights: Float32Array; bias: Float32Array }>;
}

interface Prepared {
  filter?: tf.Tensor;
  bias?: tf.Tensor;
}

function prepare(op: IrOp, fq: FakeQuant | undefined): Prepared {
  if (op.kind !== 'CONV_2D' && op.kind !== 'DEPTHWISE_CONV_2D' && op.kind !== 'FULLY_CONNECTED') return {};
  const q = fq?.params.get(op.name);
  const weights = q?.weights ?? op.weights;
  const bias = q?.bias ?? op.bias;
  return tf.tidy(() => {
    let filter: tf.Tensor;
    if (op.kind === 'CONV_2D') {
      filter = tf.transpose(tf.tensor4d(weights, op.weightShape), [1, 2, 3, 0]); // OHWI → HWIO
    } else if (op.kind === 'DEPTHWISE_CONV_2D') {
      const [, kh, kw, c] = op.weightShape;
      filter = tf.tensor4d(weights, [kh, kw, c / op.depthMultiplier, op.depthMultiplier]);
    } else {
      filter = tf.transpose(tf.tensor2d(weights, op.weightShape), [1, 0]);
    }
    return { filter, bias: tf.tensor1d(bias) };
  });
}

function activate(x: tf.Tensor, act: 'NONE' | 'RELU' | 'RELU6'): tf.Tensor {
  if (act === 'RELU') return tf.relu(x);
  if (act === 'RELU6') return tf.relu6(x);
  return x;
}

/** Rounds x to its int8 grid: with an integer zero point, clamp(round(x/s)+zp, −128, 127) − zp = clamp(round(x/s), −128−zp, 127−zp). */
export function fakeQuantize(x: tf.Tensor, q: ActQuant): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.clipByValue(tf.round(tf.mul(x, 1 / q.scale)), -128 - q.zeroPoint, 127 - q.zeroPoint), q.scale));
}

export class IrExecutor {
  private readonly prepared: Prepared[];

  constructor(
    readonly graph: IrGraph,
    private readonly fakeQuant?: FakeQuant,
  ) {
    this.prepared = graph.ops.map((op) => prepare(op, fakeQuant));
  }

  /**
   * Runs a batch [N,H,W,C] (float, already scaled like the float model's input) and returns the output
   * tensor (caller disposes). `onValue(id, tensor)` sees every value, the input first; it must not keep
   * the tensor.
   */
  run(input: tf.Tensor, onValue?: (id: number, value: tf.Tensor) => void): tf.Tensor {
    const g = this.graph;
    return tf.tidy(() => {
      const env = new Map<number, tf.Tensor>();
      const put = (id: number, t: tf.Tensor) => {
        const q = this.fakeQuant?.activations.get(id);
        const v = q ? fakeQuantize(t, q) : t;
        env.set(id, v);
        onValue?.(id, v);
      };
      put(g.input, input);
      g.ops.forEach((op, k) => {
        const x = env.get(op.inputs[0]!)!;
        const p = this.prepared[k]!;
        let y: tf.Tensor;
        switch (op.kind) {
          case 'CONV_2D':
            y = tf.conv2d(x as tf.Tensor4D, p.filter as tf.Tensor4D, [op.strideH, op.strideW], op.padding === 'SAME' ? 'same' : 'valid', 'NHWC', [op.dilationH, op.dilationW]);
            y = activate(tf.add(y, p.bias!), op.activation);
            break;
          case 'DEPTHWISE_CONV_2D':
            y = tf.depthwiseConv2d(x as tf.Tensor4D, p.filter as tf.Tensor4D, [op.strideH, op.strideW], op.padding === 'SAME' ? 'same' : 'valid', 'NHWC', [op.dilationH, op.dilationW]);
            y = activate(tf.add(y, p.bias!), op.activation);
            break;
          case 'FULLY_CONNECTED': {
            const flat = x.rank === 2 ? x : tf.reshape(x, [x.shape[0]!, -1]);
            y = activate(tf.add(tf.matMul(flat as tf.Tensor2D, p.filter as tf.Tensor2D), p.bias!), op.activation);
            break;
          }
          case 'PAD':
            y = tf.pad(x, [[0, 0], op.paddings[0], op.paddings[1], [0, 0]]);
            break;
          case 'ADD':
            y = activate(tf.add(x, env.get(op.inputs[1]!)!), op.activation);
            break;
          case 'MEAN':
            y = tf.mean(x, [1, 2]);
            break;
          case 'SOFTMAX':
            y = tf.softmax(op.beta === 1 ? x : tf.mul(x, op.beta));
            break;
          case 'RELU':
            y = tf.relu(x);
            break;
          case 'RELU6':
            y = tf.relu6(x);
            break;
          case 'RESHAPE':
            y = tf.reshape(x, [x.shape[0]!, ...op.newShape.slice(1)]);
            break;
          case 'BATCH_NORM':
            y = tf.add(tf.mul(x, tf.tensor1d(op.mul)), tf.tensor1d(op.add));
            break;
        }
        put(op.output, y);
      });
      return env.get(g.output)!;
    });
  }

  dispose(): void {
    for (const p of this.prepared) {
      p.filter?.dispose();
      p.bias?.dispose();
    }
  }
}

/** RGB888 images (HWC bytes) → float batch [N,S,S,3] with x = p * scale + offset. */
export function imagesToBatch(images: Uint8Array[], size: number, scaling: { scale: number; offset: number }): tf.Tensor4D {
  const data = new Float32Array(images.length * size * size * 3);
  images.forEach((img, n) => {
    if (img.length !== size * size * 3) throw new Error(`image ${n} has ${img.length} bytes, expected ${size * size * 3}`);
    const base = n * size * size * 3;
    for (let i = 0; i < img.length; i++) data[base + i] = img[i]! * scaling.scale + scaling.offset;
  });
  return tf.tensor4d(data, [images.length, size, size, 3]);
}
