/**
 * Training loop over cached activations: each epoch visits every training image once, through one of
 * its K cached augmented views drawn at random; Adam, sparse categorical cross-entropy (with optional
 * label smoothing), early stopping on validation loss with the best weights restored. Shuffling, view
 * choice and dropout masks all come from `seed`, so equal settings and thread count give equal runs.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../util/rng.ts';
import { log } from '../util/log.ts';
import { progressBar } from '../util/progress.ts';
import type { SplitFeatures } from './features.ts';
import { AdamW, layerwiseScales, lrFactor, type LrSchedule, type StepOptimizer } from './optim.ts';
import { startParallelTrainer, type ParallelTrainer } from './parallel-fit.ts';
import { crossEntropy, shardGradients } from './train-step.ts';
import type { EpochRecord, RunHistory } from './run-folder.ts';

export interface FitOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  patience: number;
  seed: number;
  labelSmoothing: number;
  numClasses: number;
  label: string;
  stage: 'baseline' | 'finetune';
  /**
   * Threads per training step (wasm backend only): above 1, each batch is split across the main thread
   * and `threads − 1` workers (parallel-fit.ts). Default 1: the step runs on the main thread.
   */
  threads?: number;
  /**
   * The fine-tuning recipe's levers (all off by default, which keeps plain Adam at `learningRate`):
   * decoupled weight decay (AdamW), a learning rate per layer of `layerDecay`^(blocks below the head),
   * linear warm-up over `warmupEpochs` then cosine decay to `minLrFactor` of the peak at the last epoch,
   * and mixup of the cached activations with λ ~ Beta(mixup, mixup).
   */
  weightDecay?: number;
  layerDecay?: number;
  schedule?: 'constant' | 'cosine';
  warmupEpochs?: number;
  minLrFactor?: number;
  mixup?: number;
  /**
   * CutMix of the cached activation maps (shape [h, w, c]): a box of a partner row replaces the same box
   * of each row, λ ~ Beta(cutmix, cutmix); with mixup also on, each batch takes one of the two at random.
   */
  cutmix?: number;
  /**
   * Weight averaging (SWA without BN statistics to refresh, since BN is folded): the trainable weights at
   * the end of each of the last `averageLast` epochs are averaged, and the average replaces the restored
   * best epoch when its validation loss is lower. 0 or 1: off.
   */
  averageLast?: number;
}

/** Whether `o` asks for more than plain Adam at a constant rate. */
export function usesAdamW(o: Pick<FitOptions, 'weightDecay' | 'layerDecay' | 'schedule' | 'warmupEpochs'>): boolean {
  return (o.weightDecay ?? 0) > 0 || (o.layerDecay ?? 1) !== 1 || (o.schedule ?? 'constant') !== 'constant' || (o.warmupEpochs ?? 0) > 0;
}

/** A draw from Beta(a, a) (Jöhnk's method; fine for the small a mixup uses). */
export function sampleBeta(rng: () => number, a: number): number {
  for (;;) {
    const x = rng() ** (1 / a);
    const y = rng() ** (1 / a);
    if (x + y <= 1 && x + y > 0) return x / (x + y);
  }
}

/** Each row's partner for mixup or CutMix: a Fisher–Yates permutation of 0..n−1. */
function partners(n: number, rng: () => number): number[] {
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return perm;
}

/**
 * Mixup within a batch: row i becomes λ·row i + (1 − λ)·row π(i) for a random permutation π and one
 * λ ~ Beta(alpha, alpha) per batch (kept ≥ 0.5 so the row's own label dominates), with the soft target
 * blended alike. Mixes `data` in place; returns the targets [rows, numClasses].
 */
export function mixBatch(data: Float32Array, labels: number[], per: number, numClasses: number, alpha: number, rng: () => number): Float32Array {
  const n = labels.length;
  const b = sampleBeta(rng, alpha);
  const lambda = Math.max(b, 1 - b);
  const perm = partners(n, rng);
  const src = data.slice();
  const targets = new Float32Array(n * numClasses);
  for (let i = 0; i < n; i++) {
    const j = perm[i]!;
    for (let k = 0; k < per; k++) data[i * per + k] = lambda * src[i * per + k]! + (1 - lambda) * src[j * per + k]!;
    targets[i * numClasses + labels[i]!] += lambda;
    targets[i * numClasses + labels[j]!] += 1 - lambda;
  }
  return targets;
}

/**
 * CutMix within a batch on activation maps of `shape` [h, w, c] (HWC rows): one box per batch, of area
 * ≈ (1 − λ) of the map for λ ~ Beta(alpha, alpha) kept ≥ 0.5, at a random centre and clipped to the map,
 * is copied from a partner row π(i) into row i; the targets blend the two labels by the box's actual area.
 * Mixes `data` in place; returns the targets [rows, numClasses].
 */
export function cutmixBatch(data: Float32Array, labels: number[], shape: number[], numClasses: number, alpha: number, rng: () => number): Float32Array {
  if (shape.length !== 3) throw new Error(`cutmix needs activation maps [h, w, c], got shape [${shape.join(', ')}]`);
  const [h, w, c] = shape as [number, number, number];
  const per = h * w * c;
  const n = labels.length;
  const b = sampleBeta(rng, alpha);
  const lambda = Math.max(b, 1 - b);
  const cut = Math.sqrt(1 - lambda);
  const bh = Math.round(h * cut);
  const bw = Math.round(w * cut);
  const cy = Math.floor(rng() * h);
  const cx = Math.floor(rng() * w);
  const y0 = Math.max(0, cy - (bh >> 1));
  const y1 = Math.min(h, y0 + bh);
  const x0 = Math.max(0, cx - (bw >> 1));
  const x1 = Math.min(w, x0 + bw);
  const pasted = ((y1 - y0) * (x1 - x0)) / (h * w);
  const perm = partners(n, rng);
  const src = data.slice();
  const targets = new Float32Array(n * numClasses);
  for (let i = 0; i < n; i++) {
    const j = perm[i]!;
    for (let y = y0; y < y1; y++) {
      const at = (y * w + x0) * c;
      data.set(src.subarray(j * per + at, j * per + at + (x1 - x0) * c), i * per + at);
    }
    targets[i * numClasses + labels[i]!] += 1 - pasted;
    targets[i * numClasses + labels[j]!] += pasted;
  }
  return targets;
}

function gather(src: SplitFeatures, rows: number[], per: number): Float32Array {
  const out = new Float32Array(rows.length * per);
  rows.forEach((r, i) => out.set(src.data.subarray(r * per, (r + 1) * per), i * per));
  return out;
}

/** Loss and accuracy of `model` on one clean view per item (inference mode). */
export function evaluateFeatures(
  model: tf.LayersModel,
  split: SplitFeatures,
  shape: number[],
  numClasses: number,
  batchSize = 64,
): { loss: number; accuracy: number; predictions: number[]; probabilities: Float32Array[] } {
  const per = shape.reduce((a, b) => a * b, 1);
  let lossSum = 0;
  let correct = 0;
  const predictions: number[] = [];
  const probabilities: Float32Array[] = [];
  for (let s = 0; s < split.items; s += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, split.items - s) }, (_, i) => s + i);
    const rows = idx.map((i) => i * split.views);
    const labels = idx.map((i) => split.labels[i]);
    const { loss, probs } = tf.tidy(() => {
      const x = tf.tensor(gather(split, rows, per), [rows.length, ...shape]);
      const p = model.predict(x) as tf.Tensor;
      const l = crossEntropy(p, tf.tensor1d(labels, 'int32'), numClasses, 0);
      return { loss: l.dataSync()[0], probs: p.dataSync() as Float32Array };
    });
    lossSum += loss * rows.length;
    for (let b = 0; b < rows.length; b++) {
      const row = probs.slice(b * numClasses, (b + 1) * numClasses);
      let arg = 0;
      for (let c = 1; c < numClasses; c++) if (row[c] > row[arg]) arg = c;
      predictions.push(arg);
      probabilities.push(row);
      if (arg === labels[b]) correct++;
    }
  }
  return { loss: lossSum / split.items, accuracy: correct / split.items, predictions, probabilities };
}

function countCorrect(probs: Float32Array, labels: number[], numClasses: number): number {
  let correct = 0;
  for (let b = 0; b < labels.length; b++) {
    let arg = 0;
    for (let c = 1; c < numClasses; c++) if (probs[b * numClasses + c] > probs[b * numClasses + arg]) arg = c;
    if (arg === labels[b]) correct++;
  }
  return correct;
}

/** The data-parallel trainer for `o.threads` > 1, or undefined (one thread) with a warning if its workers do not start. */
async function startTrainer(model: tf.LayersModel, shape: number[], o: FitOptions): Promise<ParallelTrainer | undefined> {
  const threads = o.threads ?? 1;
  if (threads <= 1) return undefined;
  try {
    const trainer = await startParallelTrainer(model, { threads, shape, numClasses: o.numClasses, labelSmoothing: o.labelSmoothing });
    log.info(`${o.label}: ${threads} training threads (main + ${threads - 1} worker${threads > 2 ? 's' : ''}), one wasm backend each`);
    return trainer;
  } catch (e) {
    log.warn(`${o.label}: training worker threads unavailable (${(e as Error).message.split('\n')[0]}); training on one thread`);
    return undefined;
  }
}

/** Trains `model` (input = cached activation) in place; returns the history with the best epoch restored. */
export async function fitOnFeatures(
  model: tf.LayersModel,
  train: SplitFeatures,
  val: SplitFeatures,
  shape: number[],
  o: FitOptions,
): Promise<RunHistory> {
  const per = shape.reduce((a, b) => a * b, 1);
  const rng = createRng(o.seed ^ 0x5eed);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const names = model.trainableWeights.map((w) => w.originalName);
  const adamW = usesAdamW(o)
    ? new AdamW(
        vars.map((variable, i) => ({ variable, name: names[i]! })),
        { learningRate: o.learningRate, weightDecay: o.weightDecay ?? 0, scales: layerwiseScales(names, o.layerDecay ?? 1) },
      )
    : undefined;
  const optimizer: StepOptimizer = adamW ?? tf.train.adam(o.learningRate);
  const stepsPerEpoch = Math.ceil(train.items / o.batchSize);
  const schedule: LrSchedule = {
    kind: o.schedule ?? 'constant',
    warmupSteps: Math.round((o.warmupEpochs ?? 0) * stepsPerEpoch),
    totalSteps: o.epochs * stepsPerEpoch,
    minFactor: o.minLrFactor ?? 0,
  };
  // Its own stream, so that runs without mixup draw exactly what they drew before it existed.
  const mixRng = createRng(o.seed ^ 0x3170);
  const blendBatch = (batch: Float32Array, labels: number[]): Float32Array | undefined => {
    const useCutmix = o.cutmix && (!o.mixup || mixRng() < 0.5);
    if (useCutmix) return cutmixBatch(batch, labels, shape, o.numClasses, o.cutmix!, mixRng);
    return o.mixup ? mixBatch(batch, labels, per, o.numClasses, o.mixup, mixRng) : undefined;
  };
  let stepIndex = 0;
  const epochs: EpochRecord[] = [];
  let best = { loss: Infinity, epoch: 0, weights: [] as tf.Tensor[] };
  let stale = 0;
  let stoppedEarly = false;
  const averageLast = o.averageLast ?? 0;
  const averageFrom = averageLast >= 2 ? o.epochs - averageLast + 1 : Infinity;
  let sum: tf.Tensor[] | undefined;
  let averagedEpochs = 0;
  const trainer = await startTrainer(model, shape, o);
  // The same shard function the parallel trainer's threads run, here over the whole batch.
  const stepOnThisThread = (rowsData: Float32Array, labels: number[], dropoutSeed: number, targets?: Float32Array): { loss: number; probs: Float32Array } => {
    const x = tf.tensor(rowsData, [labels.length, ...shape]);
    try {
      const r = shardGradients(model, vars, x, labels, o.numClasses, o.labelSmoothing, dropoutSeed, targets);
      optimizer.applyGradients(Object.fromEntries(vars.map((v, k) => [v.name, r.grads[k]!])));
      r.grads.forEach((g) => g.dispose());
      return { loss: r.loss, probs: r.probs };
    } finally {
      x.dispose();
    }
  };
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const t0 = Date.now();
      const order = Array.from({ length: train.items }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      const bar = progressBar(`${o.label} epoch ${epoch}/${o.epochs}`, order.length);
      let lossSum = 0;
      let correct = 0;
      for (let s = 0; s < order.length; s += o.batchSize) {
        const idx = order.slice(s, s + o.batchSize);
        const rows = idx.map((i) => i * train.views + Math.floor(rng() * train.views));
        const labels = idx.map((i) => train.labels[i]);
        const dropoutSeed = Math.floor(rng() * 2 ** 31);
        const batch = gather(train, rows, per);
        const targets = blendBatch(batch, labels);
        if (adamW) adamW.learningRate = o.learningRate * lrFactor(stepIndex, schedule);
        stepIndex++;
        const step = trainer
          ? await trainer.step(batch, labels, optimizer, dropoutSeed, targets)
          : stepOnThisThread(batch, labels, dropoutSeed, targets);
        lossSum += step.loss * rows.length;
        correct += countCorrect(step.probs, labels, o.numClasses);
        bar.tick(rows.length);
        // Let the event loop breathe (progress output, signals) between batches.
        await new Promise((r) => setImmediate(r));
      }
      bar.stop();
      const seconds = (Date.now() - t0) / 1000;
      const v = evaluateFeatures(model, val, shape, o.numClasses);
      const rec: EpochRecord = {
        epoch,
        loss: lossSum / order.length,
        accuracy: correct / order.length,
        valLoss: v.loss,
        valAccuracy: v.accuracy,
        seconds,
        imagesPerSecond: order.length / Math.max(1e-3, seconds),
        ...(adamW ? { learningRate: adamW.learningRate } : {}),
      };
      epochs.push(rec);
      process.stderr.write(
        `${o.label} epoch ${epoch}: loss ${rec.loss.toFixed(4)} acc ${(rec.accuracy * 100).toFixed(1)}% | val loss ${rec.valLoss.toFixed(4)} ` +
          `val acc ${(rec.valAccuracy * 100).toFixed(1)}% | ${rec.imagesPerSecond.toFixed(1)} img/s\n`,
      );
      if (epoch >= averageFrom) {
        const now = model.trainableWeights.map((w) => w.read());
        const prev = sum;
        sum = prev ? now.map((t, i) => tf.add(prev[i]!, t)) : now.map((t) => t.clone());
        prev?.forEach((t) => t.dispose());
        averagedEpochs++;
      }
      if (v.loss < best.loss - 1e-6) {
        best.weights.forEach((t) => t.dispose());
        best = { loss: v.loss, epoch, weights: model.trainableWeights.map((w) => w.read().clone()) };
        stale = 0;
      } else if (++stale >= o.patience) {
        stoppedEarly = epoch < o.epochs;
        break;
      }
    }
  } finally {
    await trainer?.close();
  }
  let averaged: RunHistory['averaged'];
  if (sum && averagedEpochs >= 2) {
    const n = averagedEpochs;
    model.trainableWeights.forEach((w, i) => w.write(tf.tidy(() => tf.div(sum![i]!, n))));
    const v = evaluateFeatures(model, val, shape, o.numClasses);
    const used = v.loss < best.loss - 1e-6;
    averaged = { fromEpoch: averageFrom, toEpoch: averageFrom + n - 1, valLoss: v.loss, valAccuracy: v.accuracy, used };
    process.stderr.write(
      `${o.label} average of epochs ${averaged.fromEpoch}–${averaged.toEpoch}: val loss ${v.loss.toFixed(4)} val acc ${(v.accuracy * 100).toFixed(1)}% ` +
        `(${used ? 'kept: lower validation loss than' : 'dropped for'} epoch ${best.epoch})\n`,
    );
    if (!used) model.trainableWeights.forEach((w, i) => w.write(best.weights[i]));
  } else {
    model.trainableWeights.forEach((w, i) => w.write(best.weights[i]));
  }
  sum?.forEach((t) => t.dispose());
  best.weights.forEach((t) => t.dispose());
  optimizer.dispose();
  return { stage: o.stage, epochs, bestEpoch: best.epoch, stoppedEarly, ...(averaged ? { averaged } : {}) };
}
