/**
 * Steps `train` and `finetune` share: option checks, opening the manifest, the timed fit on cached
 * features, test metrics, thread counts and writing the run folder atomically.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_AUGMENT } from '../data/images.ts';
import { createRng } from '../util/rng.ts';
import { readManifest, verifyManifestFiles } from '../data/manifest-io.ts';
import type { SplitManifest } from '../data/manifest.ts';
import { computeMetrics, type EvalMetrics } from '../shared/metrics.ts';
import { writeDirAtomic, writeJsonAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { runOutput } from './run-output.ts';
import { workerCount, type BackendInfo } from './backend.ts';
import type { FeatureSet } from './features.ts';
import { evaluateFeatures, fitOnFeatures } from './fit.ts';
import { saveModel, type HyperParameters, type RunConfig, type RunHistory } from './run-folder.ts';
import { checkWholeNumber } from '../util/whole-number.ts';

export function checkRate(name: string, v: number, min: number, maxExclusive: number): void {
  if (!Number.isFinite(v) || v < min || v >= maxExclusive) throw new UserError(`${name} ${v} must be in [${min}, ${maxExclusive})`);
}

export async function openManifest(path: string, skipVerify?: boolean): Promise<{ manifest: SplitManifest; sha256: string; path: string }> {
  const { manifest, sha256 } = await readManifest(path);
  if (manifest.classes.length < 2) throw new UserError(`${path}: lists ${manifest.classes.length} class; a classifier needs at least two, re-split a folder with one subfolder per class`);
  if (!skipVerify) await verifyManifestFiles(manifest);
  return { manifest, sha256, path: resolve(path) };
}

export function noteReplacedOut(out: string): void {
  if (existsSync(join(out, 'config.json')) || existsSync(join(out, 'model'))) {
    log.info(`${out} exists and will be replaced when the new run completes`);
  }
}

export function checkThreads(threads: number | undefined): void {
  if (threads !== undefined) checkWholeNumber('--threads', threads, 1, 1024);
}

export async function finishRun(
  outDir: string,
  model: tf.LayersModel,
  config: RunConfig,
  history: RunHistory,
  metrics: EvalMetrics,
): Promise<void> {
  await writeDirAtomic(resolve(outDir), async (tmp) => {
    await saveModel(model, join(tmp, 'model'));
    await writeJsonAtomic(join(tmp, 'history.json'), history);
    await writeJsonAtomic(join(tmp, 'metrics.json'), metrics);
    await writeJsonAtomic(join(tmp, 'config.json'), config);
  }, runOutput(config.stage === 'finetune' ? 'finetune' : 'train'));
}

export function testMetrics(model: tf.LayersModel, f: FeatureSet, classes: string[], manifestPath: string, sha256: string, runId: string, outDir: string): EvalMetrics {
  const t = evaluateFeatures(model, f.test, f.shape, classes.length);
  const m = computeMetrics(Array.from(f.test.labels), t.predictions, classes, { bootstrap: 1000, seed: 0 });
  m.split = 'test';
  m.manifest = { path: manifestPath, sha256 };
  m.source = { kind: 'run', path: resolve(outDir), runId };
  return m;
}

export function augmentOf(): HyperParameters['augment'] {
  return {
    flipProbability: DEFAULT_AUGMENT.flipProbability,
    maxRotationDeg: DEFAULT_AUGMENT.maxRotationDeg,
    zoomRange: [DEFAULT_AUGMENT.zoomRange[0], DEFAULT_AUGMENT.zoomRange[1]],
    brightness: DEFAULT_AUGMENT.brightness,
  };
}

/** Glorot-uniform head initialisation from `seed`, so the same settings give the same run. */
export function seedHead(model: tf.LayersModel, seed: number): void {
  const layer = model.getLayer('predictions');
  const [kernel, bias] = layer.getWeights();
  const [fanIn, fanOut] = kernel.shape;
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const rng = createRng(seed ^ 0x6ead);
  const values = Float32Array.from({ length: fanIn * fanOut }, () => (rng() * 2 - 1) * limit);
  const k = tf.tensor2d(values, [fanIn, fanOut]);
  const b = tf.zerosLike(bias);
  layer.setWeights([k, b]);
  k.dispose();
  b.dispose();
}

/** Process CPU seconds (all threads): on a shared machine, throughput per CPU second is the stable figure. */
export function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Trains the trainable tail on cached features with the run's hyper-parameters; records wall and CPU seconds. */
export async function fitTimed(
  tail: tf.LayersModel,
  features: FeatureSet,
  hyper: HyperParameters,
  numClasses: number,
  stage: 'baseline' | 'finetune',
  timings: Record<string, number>,
  threads = 1,
): Promise<RunHistory> {
  const t1 = Date.now();
  const cpuT = cpuSeconds();
  const history = await fitOnFeatures(tail, features.train, features.val, features.shape, {
    epochs: hyper.epochs,
    batchSize: hyper.batchSize,
    learningRate: hyper.learningRate,
    patience: hyper.patience,
    seed: hyper.seed,
    labelSmoothing: hyper.labelSmoothing,
    weightDecay: hyper.weightDecay,
    layerDecay: hyper.layerDecay,
    schedule: hyper.schedule,
    warmupEpochs: hyper.warmupEpochs,
    mixup: hyper.mixup,
    cutmix: hyper.cutmix,
    averageLast: hyper.averageLast,
    numClasses,
    label: stage === 'baseline' ? 'train' : 'finetune',
    stage,
    threads,
  });
  timings.train = (Date.now() - t1) / 1000;
  timings.trainCpu = cpuSeconds() - cpuT;
  return history;
}

export function featureRows(f: FeatureSet): number {
  return f.train.items * f.train.views + f.val.items + f.test.items;
}

/** Worker threads for feature extraction: on wasm, `--threads` or one per CPU; elsewhere the backend threads itself. */
export function featureWorkers(b: BackendInfo, threads?: number): number {
  return b.name === 'wasm' ? workerCount(threads) : 1;
}

/**
 * Threads per fine-tuning step: on wasm, `--threads` or one per CPU (data-parallel over worker threads,
 * parallel-fit.ts); elsewhere 1 (tfjs-node threads its own kernels, cpu is for tests).
 */
export function trainThreads(b: BackendInfo, threads?: number): number {
  return b.name === 'wasm' ? workerCount(threads) : 1;
}

export function backendInfo(b: BackendInfo, threads: number | undefined, stepThreads: number): RunConfig['backend'] {
  return { name: b.name, threads: b.threads, featureWorkers: featureWorkers(b, threads), trainThreads: stepThreads };
}
