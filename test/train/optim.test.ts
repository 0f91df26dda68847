/**
 * The fine-tuning recipe's levers (host/train/optim.ts, fit.ts): the warm-up + cosine schedule's values,
 * layer-wise learning-rate multipliers by MobileNetV2 depth, AdamW (equal to Adam without decay; decay
 * shrinks kernels, never biases; a smaller multiplier moves a weight less), mixup's blend of rows and
 * targets, and that fitOnFeatures really applies them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../host/train/backend.ts';
import type { SplitFeatures } from '../../host/train/features.ts';
import { cutmixBatch, evaluateFeatures, fitOnFeatures, mixBatch, sampleBeta, type FitOptions } from '../../host/train/fit.ts';
import { AdamW, layerDepth, layerwiseScales, lrFactor, type StepOptimizer } from '../../host/train/optim.ts';
import { shardGradients } from '../../host/train/train-step.ts';
import { createRng } from '../../host/util/rng.ts';

beforeAll(async () => {
  await initBackend({ prefer: 'cpu' });
});

describe('learning-rate schedule', () => {
  it('warms up linearly, then follows a cosine from the peak to minFactor at the last step', () => {
    const s = { kind: 'cosine' as const, warmupSteps: 4, totalSteps: 14, minFactor: 0.1 };
    expect([0, 1, 2, 3].map((t) => lrFactor(t, s))).toEqual([0.25, 0.5, 0.75, 1]);
    expect(lrFactor(4, s)).toBeCloseTo(1, 10);
    expect(lrFactor(13, s)).toBeCloseTo(0.1, 10);
    // Halfway through the decay the cosine is at the mean of peak and floor.
    expect(lrFactor(4 + 4.5, s)).toBeCloseTo(0.55, 10);
    const values = Array.from({ length: 10 }, (_, i) => lrFactor(4 + i, s));
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeLessThan(values[i - 1]!);
  });

  it('constant after warm-up when kind is constant', () => {
    const s = { kind: 'constant' as const, warmupSteps: 2, totalSteps: 10, minFactor: 0 };
    expect(Array.from({ length: 5 }, (_, t) => lrFactor(t, s))).toEqual([0.5, 1, 1, 1, 1]);
  });
});

describe('layer-wise learning rates', () => {
  it('orders MobileNetV2 layers by depth', () => {
    expect(layerDepth('expanded_conv_project')).toBe(0);
    expect(layerDepth('block_13_expand')).toBe(13);
    expect(layerDepth('Conv_1')).toBe(17);
    expect(layerDepth('predictions')).toBe(18);
    expect(layerDepth('global_average_pooling2d')).toBeUndefined();
  });

  it('gives the head the full rate and each depth below it one more factor of decay', () => {
    const names = ['block_15_expand/kernel', 'block_16_project/bias', 'Conv_1/kernel', 'predictions/kernel', 'predictions/bias'];
    const s = layerwiseScales(names, 0.5);
    expect(s).toEqual([0.125, 0.25, 0.5, 1, 1]);
    expect(layerwiseScales(names, 1)).toEqual([1, 1, 1, 1, 1]);
  });
});

describe('AdamW', () => {
  const grads = [0.3, -0.2, 0.5, 0.1];
  function run(opt: (v: tf.Variable[]) => StepOptimizer, steps = 3): number[][] {
    const k = tf.variable(tf.tensor1d([1, -2, 3, 0.5]), true, `k${Math.random()}`);
    const b = tf.variable(tf.tensor1d([1, 1]), true, `b${Math.random()}`);
    const o = opt([k, b]);
    for (let i = 0; i < steps; i++) {
      o.applyGradients({ [k.name]: tf.tensor1d(grads.map((g) => g * (i + 1))), [b.name]: tf.tensor1d([0.2, -0.4]) });
    }
    return [Array.from(k.dataSync()), Array.from(b.dataSync())];
  }

  it('without decay and multipliers equals tf.train.adam', () => {
    const mine = run(([k, b]) => new AdamW([{ variable: k!, name: 'c/kernel' }, { variable: b!, name: 'c/bias' }], { learningRate: 0.01, weightDecay: 0 }));
    const ref = run(() => tf.train.adam(0.01));
    mine.flat().forEach((v, i) => expect(v).toBeCloseTo(ref.flat()[i]!, 5));
  });

  it('decays kernels by lr·wd·w per step and leaves biases to Adam alone', () => {
    const plain = run(([k, b]) => new AdamW([{ variable: k!, name: 'c/kernel' }, { variable: b!, name: 'c/bias' }], { learningRate: 0.01, weightDecay: 0 }), 1);
    const decayed = run(([k, b]) => new AdamW([{ variable: k!, name: 'c/kernel' }, { variable: b!, name: 'c/bias' }], { learningRate: 0.01, weightDecay: 0.5 }), 1);
    const w0 = [1, -2, 3, 0.5];
    decayed[0]!.forEach((v, i) => expect(v).toBeCloseTo(plain[0]![i]! - 0.01 * 0.5 * w0[i]!, 6));
    expect(decayed[1]).toEqual(plain[1]);
  });

  it('moves a weight with multiplier 0.25 a quarter as far', () => {
    const full = run(([k, b]) => new AdamW([{ variable: k!, name: 'c/kernel' }, { variable: b!, name: 'c/bias' }], { learningRate: 0.01, weightDecay: 0 }), 1);
    const quarter = run(([k, b]) => new AdamW([{ variable: k!, name: 'c/kernel' }, { variable: b!, name: 'c/bias' }], { learningRate: 0.01, weightDecay: 0, scales: [0.25, 1] }), 1);
    const w0 = [1, -2, 3, 0.5];
    quarter[0]!.forEach((v, i) => expect(v - w0[i]!).toBeCloseTo((full[0]![i]! - w0[i]!) * 0.25, 6));
    expect(quarter[1]).toEqual(full[1]);
  });
});

describe('mixup', () => {
  it('draws λ from Beta(a, a) with mean 1/2', () => {
    const rng = createRng(3);
    const xs = Array.from({ length: 4000 }, () => sampleBeta(rng, 0.4));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.47);
    expect(mean).toBeLessThan(0.53);
    // Beta(0.4, 0.4) is U-shaped: most mass near 0 and 1.
    expect(xs.filter((x) => x < 0.1 || x > 0.9).length / xs.length).toBeGreaterThan(0.4);
  });

  it('blends each row with a partner row and the targets alike, its own label dominating', () => {
    const per = 3;
    const data = Float32Array.from([1, 1, 1, 10, 10, 10, 100, 100, 100]);
    const original = data.slice();
    const labels = [0, 1, 2];
    const t = mixBatch(data, labels, per, 3, 0.4, createRng(7));
    for (let i = 0; i < 3; i++) {
      const row = Array.from(t.subarray(i * 3, i * 3 + 3));
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      expect(row[labels[i]!]).toBeGreaterThanOrEqual(0.5);
      // The mixed row is the same blend of the two source rows as the target says.
      const partner = row.findIndex((v, c) => c !== labels[i] && v > 0);
      const lambda = row[labels[i]!]!;
      const expected = partner < 0 ? original[i * per]! : lambda * original[i * per]! + (1 - lambda) * original[partner * per]!;
      expect(data[i * per]).toBeCloseTo(expected, 3);
    }
  });
});

describe('cutmix', () => {
  it('copies one box of a partner map into each row and weights the labels by the box area', () => {
    const [h, w, c] = [6, 5, 2];
    const per = h * w * c;
    let boxes = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const labels = [0, 1, 2, 3];
      // Row r holds 1000·r + its own index, so every value says where it came from.
      const data = Float32Array.from({ length: labels.length * per }, (_, k) => 1000 * Math.floor(k / per) + (k % per));
      const t = cutmixBatch(data, labels, [h, w, c], 4, 1, createRng(seed));
      for (let i = 0; i < labels.length; i++) {
        const sources = new Map<number, number[]>();
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            for (let ch = 0; ch < c; ch++) {
              const k = (y * w + x) * c + ch;
              const v = data[i * per + k]!;
              expect(v % 1000).toBe(k); // same position, possibly another row
              const from = Math.floor(v / 1000);
              sources.set(from, [...(sources.get(from) ?? []), y * w + x]);
            }
          }
        }
        const row = Array.from(t.subarray(i * 4, i * 4 + 4));
        expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
        const partners = [...sources.keys()].filter((r) => r !== i);
        expect(partners.length).toBeLessThanOrEqual(1);
        if (partners.length === 1) {
          boxes++;
          const cells = [...new Set(sources.get(partners[0]!))];
          // A rectangle: its cells span exactly rows × cols.
          const ys = new Set(cells.map((p) => Math.floor(p / w)));
          const xs = new Set(cells.map((p) => p % w));
          expect(cells.length).toBe(ys.size * xs.size);
          expect(row[partners[0]!]).toBeCloseTo(cells.length / (h * w), 6);
          expect(row[i]).toBeCloseTo(1 - cells.length / (h * w), 6);
        } else {
          expect(row[i]).toBeCloseTo(1, 6);
        }
      }
    }
    expect(boxes).toBeGreaterThan(5);
    expect(() => cutmixBatch(new Float32Array(4), [0], [4], 2, 1, createRng(1))).toThrow('[h, w, c]');
  });
});

describe('soft targets in the loss', () => {
  it('one-hot targets give the labels\' loss; a blend gives the blended cross-entropy', () => {
    const input = tf.input({ shape: [2] });
    const out = tf.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: 'ones' }).apply(input) as tf.SymbolicTensor;
    const m = tf.model({ inputs: input, outputs: out });
    m.layers[1]!.setWeights([tf.tensor2d([[1, 0], [0, 2]]), tf.tensor1d([0, 0])]);
    const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
    const x = tf.tensor2d([[1, 1]]);
    const hard = shardGradients(m, vars, x, [0], 2, 0);
    const oneHot = shardGradients(m, vars, x, [0], 2, 0, undefined, [1, 0]);
    const blend = shardGradients(m, vars, x, [0], 2, 0, undefined, [0.25, 0.75]);
    expect(oneHot.loss).toBeCloseTo(hard.loss, 6);
    const p = hard.probs;
    expect(blend.loss).toBeCloseTo(-(0.25 * Math.log(p[0]!) + 0.75 * Math.log(p[1]!)), 5);
    expect(() => shardGradients(m, vars, x, [0], 2, 0, undefined, [1])).toThrow('soft targets');
    [hard, oneHot, blend].forEach((r) => r.grads.forEach((g) => g.dispose()));
    m.dispose();
  });
});

describe('fitOnFeatures with the recipe', () => {
  const dim = 4;
  function features(n: number, seed: number): SplitFeatures {
    const rng = createRng(seed);
    const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
    const data = Float32Array.from({ length: n * dim }, (_, j) => (rng() - 0.5) + (labels[Math.floor(j / dim)]! ? 1 : -1) * (j % dim === 0 ? 1 : 0));
    return { items: n, views: 1, labels, data } as unknown as SplitFeatures;
  }
  function model(): tf.LayersModel {
    const input = tf.input({ shape: [dim] });
    const h = tf.layers.dense({ name: 'block_16_project', units: 4, kernelInitializer: 'ones', biasInitializer: 'ones' }).apply(input) as tf.SymbolicTensor;
    const out = tf.layers.dense({ name: 'predictions', units: 2, activation: 'softmax', kernelInitializer: 'ones' }).apply(h) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: out });
  }
  const base: FitOptions = { epochs: 2, batchSize: 8, learningRate: 0.01, patience: 5, seed: 1, labelSmoothing: 0, numClasses: 2, label: 't', stage: 'finetune' };
  const hiddenKernelNorm = async (o: Partial<FitOptions>) => {
    const m = model();
    await fitOnFeatures(m, features(32, 1), features(16, 2), [dim], { ...base, ...o });
    const w = m.getLayer('block_16_project').getWeights()[0]!;
    const n = w.square().sum().dataSync()[0]!;
    m.dispose();
    return n;
  };

  it('weight decay shrinks the kernels it is applied to', async () => {
    const plain = await hiddenKernelNorm({ schedule: 'cosine' });
    const decayed = await hiddenKernelNorm({ schedule: 'cosine', weightDecay: 0.5 });
    expect(decayed).toBeLessThan(plain * 0.99);
  });

  it('layer-wise decay moves the layer below the head less', async () => {
    const start = 16; // ones(4×4)
    const full = Math.abs((await hiddenKernelNorm({ layerDecay: 1, weightDecay: 1e-9 })) - start);
    const slow = Math.abs((await hiddenKernelNorm({ layerDecay: 0.1 })) - start);
    expect(slow).toBeLessThan(full * 0.5);
  });

  it('follows the warm-up + cosine schedule step by step', async () => {
    const m = model();
    // 32 items, batch 8: 4 steps per epoch, 3 epochs; warm-up 1 epoch (4 steps), cosine to 0 at step 11.
    const h = await fitOnFeatures(m, features(32, 1), features(16, 2), [dim], { ...base, epochs: 3, schedule: 'cosine', warmupEpochs: 1 });
    m.dispose();
    const s = { kind: 'cosine' as const, warmupSteps: 4, totalSteps: 12, minFactor: 0 };
    expect(h.epochs.map((e) => e.learningRate)).toEqual([3, 7, 11].map((t) => 0.01 * lrFactor(t, s)));
    expect(h.epochs[2]!.learningRate).toBeCloseTo(0, 10);
    expect(h.epochs[0]!.learningRate).toBeCloseTo(0.01, 10);
  });

  it('mixup changes the run (soft targets reach the loss)', async () => {
    const plain = await hiddenKernelNorm({});
    const mixed = await hiddenKernelNorm({ mixup: 0.4 });
    expect(mixed).not.toBeCloseTo(plain, 6);
  });

  it('weight averaging evaluates the mean of the last epochs and keeps it only when its validation loss is lower', async () => {
    const train = features(32, 1);
    const val = features(16, 2);
    // Constant rate: a run of k epochs is the first k epochs of a longer one, so its final weights are
    // the longer run's weights at the end of epoch k (patience high, and the val loss falls every epoch here).
    const weightsAfter = async (epochs: number) => {
      const m = model();
      const h = await fitOnFeatures(m, train, val, [dim], { ...base, epochs, patience: 10 });
      expect(h.bestEpoch).toBe(epochs);
      const w = m.getWeights().map((t) => t.dataSync().slice());
      m.dispose();
      return w;
    };
    const snapshots = [await weightsAfter(1), await weightsAfter(2), await weightsAfter(3)];
    const mean = (from: number) =>
      snapshots[0]!.map((_, i) => {
        const picked = snapshots.slice(from);
        return Float32Array.from(picked[0]![i]!, (_, j) => picked.reduce((s, w) => s + w[i]![j]!, 0) / picked.length);
      });

    for (const averageLast of [2, 3]) {
      const m = model();
      const h = await fitOnFeatures(m, train, val, [dim], { ...base, epochs: 3, patience: 10, averageLast });
      expect(h.averaged).toMatchObject({ fromEpoch: 4 - averageLast, toEpoch: 3 });
      const expected = mean(3 - averageLast);
      const probe = model();
      probe.setWeights(expected.map((d, i) => tf.tensor(d, m.getWeights()[i]!.shape)));
      const v = evaluateFeatures(probe, val, [dim], 2);
      probe.dispose();
      expect(h.averaged!.valLoss).toBeCloseTo(v.loss, 5);
      expect(h.averaged!.used).toBe(v.loss < h.epochs[2]!.valLoss);
      const kept = m.getWeights().map((t) => Array.from(t.dataSync()));
      const want = h.averaged!.used ? expected : snapshots[2]!;
      kept.forEach((w, i) => w.forEach((x, j) => expect(x).toBeCloseTo(want[i]![j]!, 5)));
      m.dispose();
    }
    // Off below 2 epochs.
    const m = model();
    expect((await fitOnFeatures(m, train, val, [dim], { ...base, epochs: 3, averageLast: 1 })).averaged).toBeUndefined();
    m.dispose();
  });
});
