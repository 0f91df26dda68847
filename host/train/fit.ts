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
import { startParallelTrainer, type ParallelTrainer } from './parallel-fit.ts';
import { crossEntropy, shardGradients } from './train-step.ts';
import type { EpochRecord, RunHistory } from './run.ts';

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
  const optimizer = tf.train.adam(o.learningRate);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const epochs: EpochRecord[] = [];
  let best = { loss: Infinity, epoch: 0, weights: [] as tf.Tensor[] };
  let stale = 0;
  let stoppedEarly = false;
  const trainer = await startTrainer(model, shape, o);
  // The same shard function the parallel trainer's threads run, here over the whole batch.
  const stepOnThisThread = (rowsData: Float32Array, labels: number[], dropoutSeed: number): { loss: number; probs: Float32Array } => {
    const x = tf.tensor(rowsData, [labels.length, ...shape]);
    try {
      const r = shardGradients(model, vars, x, labels, o.numClasses, o.labelSmoothing, dropoutSeed);
      optimizer.applyGradients(vars.map((v, k) => ({ name: v.name, tensor: r.grads[k]! })));
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
        const step = trainer
          ? await trainer.step(gather(train, rows, per), labels, optimizer, dropoutSeed)
          : stepOnThisThread(gather(train, rows, per), labels, dropoutSeed);
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
      };
      epochs.push(rec);
      process.stderr.write(
        `${o.label} epoch ${epoch}: loss ${rec.loss.toFixed(4)} acc ${(rec.accuracy * 100).toFixed(1)}% | val loss ${rec.valLoss.toFixed(4)} ` +
          `val acc ${(rec.valAccuracy * 100).toFixed(1)}% | ${rec.imagesPerSecond.toFixed(1)} img/s\n`,
      );
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
  model.trainableWeights.forEach((w, i) => w.write(best.weights[i]));
  best.weights.forEach((t) => t.dispose());
  optimizer.dispose();
  return { stage: o.stage, epochs, bestEpoch: best.epoch, stoppedEarly };
}
