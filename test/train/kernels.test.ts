/**
 * The wasm gradient kernels (host/train/wasm-grad-kernels.ts) against the cpu backend's gradients of
 * the same ops. Tolerance: |wasm − cpu| ≤ 1e-4 · (1 + max|cpu|) element-wise (float32 sums in a
 * different order).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../host/train/backend.ts';

const TOL = 1e-4;

function seeded(shape: number[], seed: number): Float32Array {
  let s = seed >>> 0;
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

type Case = { name: string; x: number[]; w: number[]; depthwise: boolean; strides: number; pad: 'same' | 'valid' };

const cases: Case[] = [
  { name: 'conv 1×1 stride 1 (matmul path)', x: [2, 5, 5, 6], w: [1, 1, 6, 4], depthwise: false, strides: 1, pad: 'same' },
  { name: 'conv 3×3 stride 2 valid (loop path)', x: [2, 7, 7, 3], w: [3, 3, 3, 5], depthwise: false, strides: 2, pad: 'valid' },
  { name: 'conv 3×3 stride 1 same', x: [1, 6, 5, 4], w: [3, 3, 4, 3], depthwise: false, strides: 1, pad: 'same' },
  { name: 'conv 1×1 stride 2', x: [1, 6, 6, 4], w: [1, 1, 4, 3], depthwise: false, strides: 2, pad: 'same' },
  { name: 'depthwise 3×3 stride 1 same', x: [2, 6, 6, 5], w: [3, 3, 5, 1], depthwise: true, strides: 1, pad: 'same' },
  { name: 'depthwise 3×3 stride 2 valid', x: [2, 7, 7, 4], w: [3, 3, 4, 1], depthwise: true, strides: 2, pad: 'valid' },
  { name: 'depthwise 3×3 multiplier 2', x: [1, 5, 5, 3], w: [3, 3, 3, 2], depthwise: true, strides: 1, pad: 'same' },
];

function grads(c: Case): { dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const x = tf.tensor4d(seeded(c.x, 1), c.x as [number, number, number, number]);
    const w = tf.tensor4d(seeded(c.w, 2), c.w as [number, number, number, number]);
    const f = (a: tf.Tensor, b: tf.Tensor) => {
      const y = c.depthwise
        ? tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad)
        : tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad);
      // A non-uniform upstream gradient, so every position of dy matters.
      return tf.sum(tf.mul(y, tf.sin(y)));
    };
    const [dx, dw] = tf.grads(f)([x, w]);
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

function expectClose(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  const scale = 1 + expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThanOrEqual(TOL * scale);
}

describe('wasm gradient kernels match the cpu backend', () => {
  const reference = new Map<string, { dx: Float32Array; dw: Float32Array }>();
  let clipReference: Float32Array | undefined;
  beforeAll(async () => {
    await initBackend({ prefer: 'cpu' });
    for (const c of cases) reference.set(c.name, grads(c));
    {
      const f = (a: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(tf.mul(a, 8), 0, 6), tf.sin(a)));
      const xs = seeded([3, 4, 5, 6], 7);
      xs[0] = 0;
      xs[1] = 0.75;
      clipReference = tf.tidy(() => tf.grad(f)(tf.tensor(xs, [3, 4, 5, 6])).dataSync() as Float32Array);
    }
    const info = await initBackend({ prefer: 'wasm' });
    expect(info.name).toBe('wasm');
  });

  for (const c of cases) {
    it(c.name, () => {
      expect(tf.getBackend()).toBe('wasm');
      const got = grads(c);
      const ref = reference.get(c.name)!;
      expectClose(got.dw, ref.dw);
      expectClose(got.dx, ref.dx);
    });
  }

  it('ClipByValue gradient (ReLU6 layers): one-pass wasm kernel equals the stock formula', () => {
    const f = (a: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(tf.mul(a, 8), 0, 6), tf.sin(a)));
    const xs = seeded([3, 4, 5, 6], 7);
    // Exact boundary values: both ends count as inside, as in the stock gradient.
    xs[0] = 0;
    xs[1] = 0.75;
    const run = () => tf.tidy(() => tf.grad(f)(tf.tensor(xs, [3, 4, 5, 6])).dataSync() as Float32Array);
    const got = run();
    expect(clipReference).toBeDefined();
    expectClose(got, clipReference!);
  });

  it('registers the three missing kernels on wasm', () => {
    for (const k of ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']) {
      expect(tf.getKernel(k, 'wasm'), k).toBeDefined();
    }
  });
});
