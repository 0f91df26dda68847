/**
 * The plain linear probe of bench/linear-probe and bench/paper-protocol: multinomial logistic
 * regression on clean pooled features of frozen ImageNet MobileNetV2, fitted by full-batch Adam; the
 * iteration count is chosen on validation accuracy (ties to fewer), never on test.
 */
import * as tf from '@tensorflow/tfjs';
import type { SplitManifest } from '../host/data/manifest.ts';
import type { FeatureSet } from '../host/train/features.ts';

export const ITERATION_CHOICES = [15, 30, 60, 120, 300];
export const PLAIN = { standardize: false, l2: 0 };
export const PROBE_BOUNDARY = 'global_average_pooling2d';
export const CLEAN_AUGMENT = { flipProbability: 0, maxRotationDeg: 0, zoomRange: [1, 1] as [number, number], brightness: 0 };

export interface Row {
  x: Float32Array;
  y: number;
}

/** Features of every image by manifest path, from one cached clean extraction. */
export function byPath(f: FeatureSet, manifest: SplitManifest): Map<string, Float32Array> {
  const dim = f.shape.reduce((a, b) => a * b, 1);
  const out = new Map<string, Float32Array>();
  for (const split of ['train', 'val', 'test'] as const) {
    const items = manifest.items.filter((it) => it.split === split);
    items.forEach((it, i) => out.set(it.path, f[split].data.subarray(i * dim, (i + 1) * dim)));
  }
  return out;
}

/** The train/val/test rows of `manifest` looked up in `feats` (features keyed by image path). */
export function splitRows(feats: Map<string, Float32Array>, manifest: SplitManifest, seed: number): Record<'train' | 'val' | 'test', Row[]> {
  const rows = (split: string): Row[] =>
    manifest.items.filter((it) => it.split === split).map((it) => {
      const x = feats.get(it.path);
      if (!x) throw new Error(`probe: ${it.path} of split seed ${seed} is not among the extracted features; the seeds must share one image set`);
      return { x, y: it.label };
    });
  return { train: rows('train'), val: rows('val'), test: rows('test') };
}

/** The checkpoint with the best validation accuracy; ties go to the earlier (fewer iterations, simpler) one. */
export function byVal<T extends { val: number }>(all: T[]): T {
  return all.reduce((best, c) => (c.val > best.val ? c : best));
}

/** A probe's preprocessing and regularisation; the plain probe is { standardize: false, l2: 0 }. */
export interface ProbeConfig {
  /** Scale each feature to zero mean and unit variance over the training rows (foldable into the dense layer). */
  standardize: boolean;
  /** Weight of the mean-free L2 penalty λ·Σw² added to the mean cross-entropy (biases not penalised). */
  l2: number;
}

export interface Checkpoint {
  iterations: number;
  train: number;
  val: number;
  test: number;
  /** Predicted class of every test row (only when asked for: the sweep keeps accuracies only). */
  testPredictions?: number[];
}

function stack(rows: Row[], dim: number): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(r.x, i * dim));
  return out;
}

/** Per-feature mean and standard deviation of `x` ([n, dim]); constant features get std 1. */
function moments(x: Float32Array, n: number, dim: number): { mean: Float32Array; std: Float32Array } {
  const mean = new Float32Array(dim);
  const std = new Float32Array(dim);
  const sum = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (let r = 0; r < n; r++) {
    for (let d = 0; d < dim; d++) {
      const v = x[r * dim + d]!;
      sum[d] += v;
      sq[d] += v * v;
    }
  }
  for (let d = 0; d < dim; d++) {
    mean[d] = sum[d]! / n;
    const variance = sq[d]! / n - mean[d]! * mean[d]!;
    std[d] = variance > 1e-12 ? Math.sqrt(variance) : 1;
  }
  return { mean, std };
}

/**
 * Multinomial logistic regression by full-batch Adam (lr 0.01) on softmax cross-entropy plus `c.l2`·Σw²;
 * accuracies on train/val/test after each iteration count in `at`.
 */
export function fitProbe(
  train: Row[],
  val: Row[],
  test: Row[],
  classes: number,
  dim: number,
  c: ProbeConfig,
  at: number[],
  keepPredictions = false,
): Checkpoint[] {
  tf.engine().startScope();
  try {
    const xTrain = stack(train, dim);
    const { mean, std } = c.standardize ? moments(xTrain, train.length, dim) : { mean: new Float32Array(dim), std: new Float32Array(dim).fill(1) };
    const prep = (rows: Row[], data = stack(rows, dim)) => tf.tensor2d(data, [rows.length, dim]).sub(tf.tensor1d(mean)).div(tf.tensor1d(std));
    const sets = { train: prep(train, xTrain), val: prep(val), test: prep(test) };
    const labels = { train: train.map((r) => r.y), val: val.map((r) => r.y), test: test.map((r) => r.y) };
    const target = tf.oneHot(tf.tensor1d(labels.train, 'int32'), classes).toFloat();
    const w = tf.variable(tf.zeros([dim, classes]));
    const b = tf.variable(tf.zeros([classes]));
    const optimizer = tf.train.adam(0.01);
    const predict = (x: tf.Tensor): number[] => Array.from(tf.tidy(() => x.matMul(w).add(b).argMax(-1).dataSync()));
    const accuracy = (x: tf.Tensor, y: number[]): number => {
      const predicted = predict(x);
      return y.reduce((ok, label, i) => ok + (predicted[i] === label ? 1 : 0), 0) / y.length;
    };
    const out: Checkpoint[] = [];
    for (let t = 1; t <= Math.max(...at); t++) {
      optimizer.minimize(() => {
        const ce = tf.losses.softmaxCrossEntropy(target, sets.train.matMul(w).add(b));
        return (c.l2 > 0 ? ce.add(w.square().sum().mul(c.l2)) : ce) as tf.Scalar;
      }, false, [w, b]);
      if (at.includes(t)) {
        out.push({
          iterations: t,
          train: accuracy(sets.train, labels.train),
          val: accuracy(sets.val, labels.val),
          test: accuracy(sets.test, labels.test),
          ...(keepPredictions ? { testPredictions: predict(sets.test) } : {}),
        });
      }
    }
    optimizer.dispose();
    return out;
  } finally {
    tf.engine().endScope();
  }
}

