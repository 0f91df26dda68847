/**
 * Data-parallel training steps (host/train/parallel-fit.ts) on a tiny MobileNetV2-like tail (1×1 conv,
 * ReLU6, depthwise 3×3, pooling, dropout, dense softmax) at 6×6×8, on the wasm backend: a two-thread step
 * must update the weights as the one-thread step does, a short two-thread fit must learn a separable
 * task, and a worker's failure must reach the caller as an error (no hang).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../host/train/backend.ts';
import type { SplitFeatures } from '../../host/train/features.ts';
import { fitOnFeatures, type FitOptions } from '../../host/train/fit.ts';
import { shardSizes, startParallelTrainer, type ParallelTrainer } from '../../host/train/parallel-fit.ts';
import { crossEntropy, shardGradients } from '../../host/train/train-step.ts';

const SHAPE = [6, 6, 8];
const PER = SHAPE.reduce((a, b) => a * b, 1);
const CLASSES = 3;

function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

function tinyTail(dropout: number, seed: number): tf.LayersModel {
  const input = tf.input({ shape: SHAPE });
  let x = tf.layers.conv2d({ name: 'expand', filters: 16, kernelSize: 1, padding: 'same' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'expand_relu', maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ name: 'depthwise', kernelSize: 3, padding: 'same' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'depthwise_relu', maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ name: 'project', filters: 8, kernelSize: 1, padding: 'same' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dropout({ name: 'dropout', rate: dropout }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'predictions', units: CLASSES, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  // Seeded weights, so that two models built alike start identical.
  model.setWeights(model.getWeights().map((w, i) => tf.tensor(seeded(w.size, seed * 100 + i).map((v) => v * 0.5), w.shape)));
  return model;
}

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.trainableWeights.map((w) => w.read().dataSync() as Float32Array);
}

/** Rows whose class c has channel c raised by 1.5: separable after pooling. */
function separable(items: number, views: number, seed: number): SplitFeatures {
  const labels = Int32Array.from({ length: items }, (_, i) => i % CLASSES);
  const data = seeded(items * views * PER, seed).map((v) => v * 0.5);
  for (let r = 0; r < items * views; r++) {
    const c = labels[Math.floor(r / views)];
    for (let p = 0; p < PER / SHAPE[2]; p++) data[r * PER + p * SHAPE[2] + c] += 1.5;
  }
  return { data, labels, views, items };
}

/** fitOnFeatures on the tiny tail's activations, without label smoothing; `o` holds what each test varies. */
function fitTiny(model: tf.LayersModel, train: SplitFeatures, val: SplitFeatures, o: Pick<FitOptions, 'epochs' | 'batchSize' | 'learningRate' | 'patience' | 'seed' | 'label' | 'threads'>) {
  return fitOnFeatures(model, train, val, SHAPE, { ...o, labelSmoothing: 0, numClasses: CLASSES, stage: 'finetune' });
}

beforeAll(async () => {
  await initBackend({ prefer: 'wasm' });
});

describe('data-parallel training steps (wasm, 2 threads)', () => {
  let trainer: ParallelTrainer | undefined;
  afterAll(async () => {
    await trainer?.close();
  });

  it('cuts a batch into near-equal shards', () => {
    expect(shardSizes(16, 2)).toEqual([8, 8]);
    expect(shardSizes(7, 2)).toEqual([4, 3]);
    expect(shardSizes(1, 2)).toEqual([1]);
    expect(shardSizes(10, 3)).toEqual([4, 3, 3]);
  });

  // Tolerance: the two-thread gradient is a weighted sum of two shard gradients, the one-thread one a
  // single sum over the batch, so float32 rounding differs. After three steps the weights must agree to
  // |Δ| ≤ 1e-5 · (1 + max|w|) per element and tensor (measured here: ≤ 2e-7 with SGD, ≤ 6e-8 with Adam).
  for (const [name, make] of [
    ['SGD', () => tf.train.sgd(0.5)],
    ['Adam', () => tf.train.adam(1e-2)],
  ] as const) {
    it(`gives the one-thread step's weights (${name}, dropout 0, 3 steps on batches of 10 split 5 + 5)`, async () => {
      const one = tinyTail(0, 1);
      const two = tinyTail(0, 1);
      expect(weightsOf(two)).toEqual(weightsOf(one));
      const optOne = make();
      const optTwo = make();
      const parallel = await startParallelTrainer(two, { threads: 2, shape: SHAPE, numClasses: CLASSES, labelSmoothing: 0.1 });
      const varsOne = one.trainableWeights.map((w) => w.read() as tf.Variable);
      try {
        for (let step = 0; step < 3; step++) {
          const xs = seeded(10 * PER, 7 + step);
          const labels = Array.from({ length: 10 }, (_, i) => (i * 7 + step) % CLASSES);
          const x = tf.tensor(xs, [10, ...SHAPE]);
          const y = tf.tensor1d(labels, 'int32');
          const cost = optOne.minimize(() => crossEntropy(one.apply(x, { training: true }) as tf.Tensor, y, CLASSES, 0.1), true, varsOne)!;
          const lossOne = cost.dataSync()[0];
          tf.dispose([x, y, cost]);
          const r = await parallel.step(xs, labels, optTwo);
          expect(Math.abs(r.loss - lossOne)).toBeLessThanOrEqual(1e-5 * (1 + lossOne));
          expect(r.probs.length).toBe(10 * CLASSES);
        }
      } finally {
        await parallel.close();
      }
      const a = weightsOf(one);
      const b = weightsOf(two);
      a.forEach((wa, k) => {
        const scale = 1 + wa.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        let worst = 0;
        wa.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - b[k][j]))));
        expect(worst, two.trainableWeights[k].originalName).toBeLessThanOrEqual(1e-5 * scale);
      });
      // The steps did move the weights: the comparison is not between two untouched models.
      let moved = 0;
      weightsOf(tinyTail(0, 1)).forEach((w, k) => w.forEach((v, j) => (moved = Math.max(moved, Math.abs(v - a[k][j])))));
      expect(moved).toBeGreaterThan(1e-3);
    });
  }

  it('with the full recipe (AdamW, layer decay, cosine, mixup soft targets) two threads give the one-thread weights', async () => {
    const recipe = { weightDecay: 0.05, layerDecay: 0.5, schedule: 'cosine' as const, warmupEpochs: 1, mixup: 0.4 };
    const train = separable(20, 2, 11);
    const val = separable(6, 1, 12);
    const run = async (threads: number) => {
      const m = tinyTail(0, 4);
      await fitOnFeatures(m, train, val, SHAPE, { epochs: 2, batchSize: 10, learningRate: 1e-2, patience: 5, seed: 3, label: `recipe-${threads}`, threads, labelSmoothing: 0.1, numClasses: CLASSES, stage: 'finetune', ...recipe });
      return weightsOf(m);
    };
    const a = await run(1);
    const b = await run(2);
    a.forEach((wa, k) => {
      const scale = 1 + wa.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      let worst = 0;
      wa.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - b[k]![j]!))));
      expect(worst).toBeLessThanOrEqual(1e-5 * scale);
    });
    let moved = 0;
    weightsOf(tinyTail(0, 4)).forEach((w, k) => w.forEach((v, j) => (moved = Math.max(moved, Math.abs(v - a[k]![j]!)))));
    expect(moved).toBeGreaterThan(1e-3);
  });

  it('reports a worker\'s error to the caller without hanging, and keeps working', async () => {
    const model = tinyTail(0, 2);
    const opt = tf.train.adam(1e-3);
    trainer = await startParallelTrainer(model, { threads: 2, shape: SHAPE, numClasses: CLASSES, labelSmoothing: 0 });
    const bad = trainer;
    const before = weightsOf(model);
    // Rows 5..9 go to the worker; row 9's label is no class.
    const labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 9];
    await expect(bad.step(seeded(10 * PER, 3), labels, opt)).rejects.toThrow(/training worker 1: label 9 of row 4 is not a class index/);
    expect(weightsOf(model)).toEqual(before);
    const ok = await bad.step(seeded(10 * PER, 3), labels.map((l) => l % CLASSES), opt);
    expect(Number.isFinite(ok.loss)).toBe(true);
  });
});

describe('fitOnFeatures with 2 threads', () => {
  it('learns a separable task', async () => {
    const model = tinyTail(0.1, 3);
    const errors = vi.spyOn(process.stderr, 'write');
    const history = await fitTiny(model, separable(48, 2, 11), separable(24, 1, 12), {
      epochs: 6,
      batchSize: 16,
      learningRate: 2e-2,
      patience: 6,
      seed: 1,
      label: 'parallel-test',
      threads: 2,
    });
    const said = errors.mock.calls.map((c) => String(c[0])).join('');
    errors.mockRestore();
    expect(said).toContain('parallel-test: 2 training threads');
    expect(said).not.toContain('unavailable');
    const last = history.epochs[history.epochs.length - 1];
    expect(last.accuracy).toBeGreaterThan(0.9);
    expect(Math.max(...history.epochs.map((e) => e.valAccuracy))).toBeGreaterThan(0.9);
  });

  it('falls back to one thread with a warning when a worker cannot start', async () => {
    // A layer class registered only in this thread: the worker cannot rebuild the model.
    class MainThreadOnly extends tf.layers.Layer {
      static className = 'PlastisortMainThreadOnly';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.tidy(() => (Array.isArray(inputs) ? inputs[0] : inputs).mul(1));
      }
    }
    tf.serialization.registerClass(MainThreadOnly);
    const input = tf.input({ shape: SHAPE });
    const x = new MainThreadOnly({}).apply(input) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: CLASSES, activation: 'softmax' }).apply(pooled) as tf.SymbolicTensor });
    await expect(startParallelTrainer(model, { threads: 2, shape: SHAPE, numClasses: CLASSES, labelSmoothing: 0 })).rejects.toThrow(
      /training worker 1: .*PlastisortMainThreadOnly/,
    );
    const errors = vi.spyOn(process.stderr, 'write');
    const history = await fitTiny(model, separable(24, 1, 13), separable(12, 1, 14), {
      epochs: 1,
      batchSize: 8,
      learningRate: 1e-2,
      patience: 1,
      seed: 1,
      label: 'fallback-test',
      threads: 2,
    });
    const said = errors.mock.calls.map((c) => String(c[0])).join('');
    errors.mockRestore();
    expect(said).toMatch(/warning: fallback-test: training worker threads unavailable \(training worker 1: .*\); training on one thread/);
    expect(history.epochs).toHaveLength(1);
  });
});

describe('reproducible training (dropout 0.5)', () => {
  const run = async (seed: number, threads: number): Promise<Float32Array[]> => {
    const model = tinyTail(0.5, 4);
    await fitTiny(model, separable(40, 2, 21), separable(12, 1, 22), {
      epochs: 2,
      batchSize: 10,
      learningRate: 2e-2,
      patience: 2,
      seed,
      label: 'repro-test',
      threads,
    });
    expect((model.getLayer('dropout').getConfig() as { seed?: number }).seed, 'a step seed left on the saved layer').toBeUndefined();
    return weightsOf(model);
  };

  for (const threads of [1, 2]) {
    it(`gives the same weights for the same seed, other weights for another seed (${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      const a = await run(1, threads);
      const b = await run(1, threads);
      const c = await run(2, threads);
      expect(b).toEqual(a);
      expect(c).not.toEqual(a);
    });
  }

  it('draws a new mask on each step: the same seed twice drops the same units, another seed others', () => {
    const model = tinyTail(0.5, 5);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const x = tf.tensor(seeded(4 * PER, 9), [4, ...SHAPE]);
    const probsWith = (seed: number) => {
      const r = shardGradients(model, vars, x, [0, 1, 2, 0], CLASSES, 0, seed);
      r.grads.forEach((g) => g.dispose());
      return r.probs;
    };
    const first = probsWith(11);
    expect(probsWith(11)).toEqual(first);
    expect(probsWith(12)).not.toEqual(first);
    x.dispose();
  });
});
