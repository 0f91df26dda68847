/**
 * Data-parallel training steps over worker threads, each with its own single-threaded wasm backend (the
 * wasm backend does not thread under Node: upstream tfjs issue #3830; inference-pool.ts does the same
 * for feature extraction).
 *
 * One step: the batch is cut into one shard per thread; the main thread takes the first shard and each
 * worker one of the others. Every worker first receives the main model's current trainable weights, so
 * its replica is the main model bit for bit (no drift to check: the replicas hold no state between
 * steps), then returns the gradient of its shard's mean loss. The main thread averages the shard
 * gradients weighted by shard size, which is the gradient of the whole batch's mean loss, and applies
 * one optimizer update to its own model. The optimizer state lives only on the main thread.
 *
 * Dropout masks come from the step's seed plus the shard's index, so a run is reproducible for a given
 * thread count (a different count cuts the batch differently and so draws other masks). Batch
 * normalization is folded into the convolutions (mobilenetv2.ts), so there are no batch statistics to
 * synchronise.
 *
 * The worker is plain JavaScript (see inference-pool.ts); it rebuilds the wasm gradient kernels and the
 * loss from the source text of the self-contained functions `defineWasmGradientKernels` and
 * `defineTrainStep`, so main thread and workers compute with the same code.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { modelArtifacts, wasmWorkerPaths } from './inference-pool.ts';
import type { StepOptimizer } from './optim.ts';
import { defineTrainStep, shardGradients } from './train-step.ts';
import { defineWasmGradientKernels } from './wasm-grad-kernels.ts';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const tf = require(workerData.tfjsPath);
const wasm = require(workerData.wasmPath);
// tsx keeps function names by wrapping them in an __name(fn, name) helper of its own; a no-op stands in.
const rebuild = (source) => new Function('__name', 'return (' + source + ')')((fn) => fn);
(async () => {
  wasm.setWasmPaths(workerData.wasmDir);
  rebuild(workerData.kernelsSource)(tf).registerWasmGradientKernels();
  const step = rebuild(workerData.stepSource)(tf);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
  await tf.ready();
  const model = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: workerData.topology, weightSpecs: workerData.weightSpecs, weightData: workerData.weightData }));
  const vars = model.trainableWeights.map((w) => w.read());
  const total = vars.reduce((s, v) => s + v.size, 0);
  parentPort.on('message', (m) => {
    try {
      const weights = new Float32Array(m.weights);
      if (weights.length !== total) throw new Error('got ' + weights.length + ' weights, the replica has ' + total);
      tf.tidy(() => {
        let at = 0;
        for (const v of vars) { v.assign(tf.tensor(weights.subarray(at, at + v.size), v.shape)); at += v.size; }
      });
      const x = tf.tensor(new Float32Array(m.input), m.shape);
      let r;
      const targets = m.targets ? new Float32Array(m.targets) : undefined;
      try { r = step.shardGradients(model, vars, x, new Int32Array(m.labels), m.numClasses, m.labelSmoothing, m.dropoutSeed, targets); }
      finally { x.dispose(); }
      const grads = new Float32Array(total);
      let at = 0;
      for (const g of r.grads) { grads.set(g.dataSync(), at); at += g.size; g.dispose(); }
      const probs = r.probs.slice();
      parentPort.postMessage({ id: m.id, loss: r.loss, probs: probs.buffer, grads: grads.buffer }, [probs.buffer, grads.buffer]);
    } catch (e) {
      parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) });
    }
  });
  parentPort.postMessage({ ready: true, names: model.trainableWeights.map((w) => w.originalName), shapes: vars.map((v) => v.shape) });
})().catch((e) => parentPort.postMessage({ fatal: String((e && e.message) || e) }));
`;

interface WorkerReply {
  ready?: boolean;
  names?: string[];
  shapes?: number[][];
  fatal?: string;
  id?: number;
  loss?: number;
  probs?: ArrayBuffer;
  grads?: ArrayBuffer;
  error?: string;
}

interface ShardReply {
  loss: number;
  probs: Float32Array;
  grads: Float32Array;
}

export interface ParallelTrainerOptions {
  /** Threads in all: the main thread plus `threads − 1` workers; at least 2. */
  threads: number;
  /** Shape of one input row (no batch axis). */
  shape: number[];
  numClasses: number;
  labelSmoothing: number;
}

export interface ParallelTrainer {
  readonly threads: number;
  /**
   * One optimizer step of `optimizer` on the batch `x` ([labels.length, ...shape], row-major): returns
   * the batch's mean loss and its softmax outputs [rows, numClasses] in row order. Shard k draws its
   * dropout masks from `dropoutSeed + k` (unseeded when `dropoutSeed` is undefined). `targets`, when
   * given, are soft targets [rows, numClasses] that replace the one-hot labels in the loss (mixup).
   */
  step(
    x: Float32Array,
    labels: ArrayLike<number>,
    optimizer: StepOptimizer,
    dropoutSeed?: number,
    targets?: Float32Array,
  ): Promise<{ loss: number; probs: Float32Array }>;
  close(): Promise<void>;
}

/** Row counts of `shards` near-equal shards of `rows` (the first ones one larger), none empty. */
export function shardSizes(rows: number, shards: number): number[] {
  const n = Math.max(1, Math.min(rows, shards));
  return Array.from({ length: n }, (_, i) => Math.floor(rows / n) + (i < rows % n ? 1 : 0));
}

/**
 * Starts `threads − 1` workers, each holding a replica of `model`'s topology; rejects (after stopping
 * the ones that did start) if any fails to start or its trainable weights differ from the main model's.
 * Needs the wasm backend on the main thread too, so that every shard runs the same kernels.
 */
export async function startParallelTrainer(model: tf.LayersModel, o: ParallelTrainerOptions): Promise<ParallelTrainer> {
  if (!Number.isInteger(o.threads) || o.threads < 2) throw new Error(`parallel training needs at least 2 threads, got ${o.threads}`);
  if (tf.getBackend() !== 'wasm') throw new Error(`parallel training runs on the wasm backend, not ${tf.getBackend()}`);
  const artifacts = await modelArtifacts(model);
  const workerData = {
    ...wasmWorkerPaths(),
    kernelsSource: defineWasmGradientKernels.toString(),
    stepSource: defineTrainStep.toString(),
    topology: artifacts.modelTopology,
    weightSpecs: artifacts.weightSpecs,
    weightData: artifacts.weightData,
  };
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const names = model.trainableWeights.map((w) => w.originalName);
  const total = vars.reduce((s, v) => s + v.size, 0);
  const per = o.shape.reduce((a, b) => a * b, 1);

  const workers: Worker[] = [];
  const pending = new Map<number, { worker: number; resolve: (r: ShardReply) => void; reject: (e: Error) => void }>();
  let failure: Error | undefined;
  let closing = false;
  let nextId = 0;
  const fail = (i: number, e: Error) => {
    failure ??= e;
    for (const [id, p] of pending) {
      if (p.worker !== i) continue;
      pending.delete(id);
      p.reject(e);
    }
  };
  try {
    await Promise.all(
      Array.from({ length: o.threads - 1 }, (_, i) => {
        const label = `training worker ${i + 1}`;
        const w = new Worker(WORKER_SOURCE, { eval: true, workerData });
        workers.push(w);
        return new Promise<void>((resolve, reject) => {
          w.on('message', (m: WorkerReply) => {
            if (m.fatal) return reject(new Error(`${label}: ${m.fatal}`));
            if (m.ready) {
              const same =
                m.names!.length === names.length &&
                m.names!.every((n, k) => n === names[k] && m.shapes![k].join('x') === vars[k].shape.join('x'));
              if (!same) return reject(new Error(`${label}: its replica's trainable weights [${m.names!.join(', ')}] differ from the model's [${names.join(', ')}]`));
              return resolve();
            }
            const p = pending.get(m.id!);
            if (!p) return;
            pending.delete(m.id!);
            if (m.error) p.reject(new Error(`${label}: ${m.error}`));
            else p.resolve({ loss: m.loss!, probs: new Float32Array(m.probs!), grads: new Float32Array(m.grads!) });
          });
          w.on('error', (e) => {
            const err = new Error(`${label} failed: ${e.message}`);
            reject(err);
            fail(i, err);
          });
          w.on('exit', (code) => {
            const err = new Error(`${label} exited (code ${code})`);
            reject(err);
            if (!closing) fail(i, err);
          });
        });
      }),
    );
  } catch (e) {
    closing = true;
    await Promise.all(workers.map((w) => w.terminate()));
    throw e;
  }

  const shardSeed = (seed: number | undefined, shard: number) => (seed === undefined ? undefined : (seed + shard) % 2 ** 31);
  const send = (
    i: number,
    weights: Float32Array,
    input: Float32Array,
    labels: Int32Array,
    rows: number,
    dropoutSeed: number | undefined,
    targets: Float32Array | undefined,
  ): Promise<ShardReply> => {
    const id = nextId++;
    const w = weights.slice().buffer;
    const x = input.slice().buffer;
    const l = labels.slice().buffer;
    const t = targets?.slice().buffer;
    return new Promise<ShardReply>((resolve, reject) => {
      pending.set(id, { worker: i, resolve, reject });
      workers[i].postMessage(
        { id, weights: w, input: x, shape: [rows, ...o.shape], labels: l, numClasses: o.numClasses, labelSmoothing: o.labelSmoothing, dropoutSeed, targets: t },
        t ? [w, x, l, t] : [w, x, l],
      );
    });
  };

  return {
    threads: o.threads,
    async step(x, labelValues, optimizer, dropoutSeed, targets) {
      if (failure) throw failure;
      const rows = labelValues.length;
      if (x.length !== rows * per) throw new Error(`batch of ${rows} labels needs ${rows * per} input values, got ${x.length}`);
      const labels = Int32Array.from(labelValues);
      const sizes = shardSizes(rows, o.threads);
      const starts = sizes.map((_, k) => sizes.slice(0, k).reduce((a, b) => a + b, 0));
      let weights: Float32Array | undefined;
      if (sizes.length > 1) {
        weights = new Float32Array(total);
        let at = 0;
        for (const v of vars) {
          weights.set(v.dataSync() as Float32Array, at);
          at += v.size;
        }
      }
      // Workers first, so that they compute while the main thread does its own shard.
      const remote = sizes.slice(1).map((n, k) =>
        send(
          k,
          weights!,
          x.subarray(starts[k + 1] * per, (starts[k + 1] + n) * per),
          labels.subarray(starts[k + 1], starts[k + 1] + n),
          n,
          shardSeed(dropoutSeed, k + 1),
          targets?.subarray(starts[k + 1] * o.numClasses, (starts[k + 1] + n) * o.numClasses),
        ),
      );
      let local: ReturnType<typeof shardGradients> | undefined;
      let localError: unknown;
      try {
        const x0 = tf.tensor(x.subarray(0, sizes[0] * per), [sizes[0], ...o.shape]);
        try {
          local = shardGradients(
            model,
            vars,
            x0,
            labels.subarray(0, sizes[0]),
            o.numClasses,
            o.labelSmoothing,
            shardSeed(dropoutSeed, 0),
            targets?.subarray(0, sizes[0] * o.numClasses),
          );
        } finally {
          x0.dispose();
        }
      } catch (e) {
        localError = e;
      }
      // Never leave a worker's reply unawaited, even when the main shard failed.
      const settled = await Promise.allSettled(remote);
      const bad = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (localError !== undefined || bad) {
        local?.grads.forEach((g) => g.dispose());
        throw localError ?? bad!.reason;
      }
      const replies = settled.map((s) => (s as PromiseFulfilledResult<ShardReply>).value);
      const mine = local!;
      const combined = tf.tidy(() => {
        const named: tf.NamedTensorMap = {};
        let at = 0;
        vars.forEach((v, k) => {
          let g = mine.grads[k].mul(sizes[0] / rows);
          replies.forEach((r, j) => {
            g = g.add(tf.tensor(r.grads.subarray(at, at + v.size), v.shape).mul(sizes[j + 1] / rows));
          });
          named[v.name] = g;
          at += v.size;
        });
        return named;
      });
      mine.grads.forEach((g) => g.dispose());
      optimizer.applyGradients(combined);
      Object.values(combined).forEach((g) => g.dispose());
      const probs = new Float32Array(rows * o.numClasses);
      probs.set(mine.probs, 0);
      replies.forEach((r, j) => probs.set(r.probs, starts[j + 1] * o.numClasses));
      const loss = (mine.loss * sizes[0] + replies.reduce((s, r, j) => s + r.loss * sizes[j + 1], 0)) / rows;
      return { loss, probs };
    },
    async close() {
      closing = true;
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
