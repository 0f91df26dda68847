/**
 * The trained run folder (docs/artifacts.md): `model/` (tfjs LayersModel of the whole classifier),
 * `config.json` (RunConfig), `history.json`, `metrics.json`. Evaluation, quantization, HIL and the
 * pipeline read runs through `loadRun` and `createRunPredictor`.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Predictor } from '../shared/predictor.ts';
import type { ResizePolicy } from '../data/images.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import type { BackboneOrigin } from './backbone-cache.ts';
import type { BackboneKind, FloatScaling } from './backbones.ts';
import { initBackend } from './backend.ts';

export const RUN_SCHEMA = 'plastisort.run/1' as const;

export interface HyperParameters {
  batchSize: number;
  /** Maximum epochs; early stopping may end sooner. */
  epochs: number;
  /** Epochs without a lower validation loss before stopping. */
  patience: number;
  /** Peak learning rate (of the head, with layer-wise decay). */
  learningRate: number;
  /** 'adamw' when any of weight decay, layer-wise decay or a schedule is on (optim.ts). */
  optimizer: 'adam' | 'adamw';
  /** Decoupled weight decay of the kernels (AdamW); absent or 0: none. */
  weightDecay?: number;
  /** Learning-rate multiplier per MobileNetV2 block below the head; absent or 1: one rate. */
  layerDecay?: number;
  /** Learning-rate schedule over the run's steps; absent: constant. */
  schedule?: 'constant' | 'cosine';
  warmupEpochs?: number;
  /** Mixup α of the cached activations; absent or 0: no mixup. */
  mixup?: number;
  /** CutMix α of the cached activation maps; absent or 0: none. */
  cutmix?: number;
  /** Weights averaged over this many last epochs (used when their validation loss is lower); absent, 0 or 1: none. */
  averageLast?: number;
  loss: 'sparse_categorical_crossentropy';
  labelSmoothing: number;
  dropout: number;
  /** Augmented views of each training image whose activations are cached; one is drawn per epoch. */
  views: number;
  /** Seed of the augmentation, the shuffling and the head's initialisation. */
  seed: number;
  augment: { flipProbability: number; maxRotationDeg: number; zoomRange: [number, number]; brightness: number };
  /** First trainable layer (fine-tuning) or 'predictions' (baseline: only the head trains). */
  unfreezeFrom: string;
  /** Layer whose output is cached: everything up to it is frozen. */
  boundary: string;
}

export interface RunConfig {
  schema: typeof RUN_SCHEMA;
  runId: string;
  stage: 'baseline' | 'finetune';
  createdAt: string;
  classes: string[];
  /** The manifest trained on; train and finetune always write it, a run folder made by hand may lack it. */
  manifest?: { path: string; sha256: string };
  backbone: { kind: BackboneKind; source: string; sha256: string; fallback?: true; origin?: BackboneOrigin };
  inputSize: number;
  resize: ResizePolicy;
  /** x = p * scale + offset for a byte p: the scaling the backbone was trained with. */
  floatScaling: FloatScaling;
  hyper: HyperParameters;
  parent?: { path: string; runId: string };
  /**
   * Backend, its own threads, the worker threads (one wasm backend each) used for feature extraction,
   * and the threads each training step was split over (data-parallel fine-tuning; 1 for the baseline head).
   */
  backend: { name: string; threads: number; featureWorkers?: number; trainThreads?: number };
  bestEpoch: number;
  /** Wall seconds per phase. */
  timings: Record<string, number>;
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  seconds: number;
  /** Training images (views) per second in this epoch. */
  imagesPerSecond: number;
  /** Learning rate (of the head) at the epoch's last step, when a schedule or AdamW is used. */
  learningRate?: number;
}

export interface RunHistory {
  stage: 'baseline' | 'finetune';
  epochs: EpochRecord[];
  bestEpoch: number;
  stoppedEarly: boolean;
  /** Weight averaging over the last epochs (fit.ts `averageLast`): its validation figures, and whether it replaced the best epoch. */
  averaged?: { fromEpoch: number; toEpoch: number; valLoss: number; valAccuracy: number; used: boolean };
}

/** Writes the model as `model.json` + `weights.bin` into `dir`. */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData as ArrayBuffer;
      const json = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: 'plastisort train',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      await writeFileAtomic(join(dir, 'weights.bin'), new Uint8Array(weightData));
      await writeJsonAtomic(join(dir, 'model.json'), json);
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
}

function bytesPerValue(w: tf.io.WeightsManifestEntry): number {
  const q = w.quantization?.dtype;
  if (q) return q === 'uint8' ? 1 : 2;
  return w.dtype === 'bool' ? 1 : 4;
}

/** Loads a tfjs LayersModel folder written by `saveModel` (or any single-group LayersModel folder). */
export async function loadModelFolder(dir: string): Promise<tf.LayersModel> {
  const damaged = (what: string) =>
    new UserError(`${dir}: ${what}; the model folder is damaged or incomplete, re-run the training that wrote it`);
  let json: { modelTopology: object; weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }> };
  try {
    json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as typeof json;
  } catch (e) {
    throw damaged(`model.json is unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!json || typeof json.modelTopology !== 'object' || !Array.isArray(json.weightsManifest)) throw damaged('model.json is not a tfjs LayersModel');
  const parts: Uint8Array[] = [];
  for (const g of json.weightsManifest) {
    for (const p of g.paths) {
      try {
        parts.push(new Uint8Array(await readFile(join(dir, p))));
      } catch (e) {
        throw damaged(`${p} is unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
  }
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const expected = json.weightsManifest
    .flatMap((g) => g.weights)
    .reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1) * bytesPerValue(w), 0);
  if (total !== expected) throw damaged(`the weight files hold ${total} bytes but model.json describes ${expected}`);
  const data = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    data.set(p, o);
    o += p.byteLength;
  }
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: data.buffer,
    }),
  );
}

export async function readRunConfig(runDir: string): Promise<RunConfig> {
  const path = join(runDir, 'config.json');
  if (!existsSync(path)) {
    throw new UserError(`${runDir}: not a run folder (no config.json); pass a folder written by plastisort train or finetune`);
  }
  let config: RunConfig;
  try {
    config = JSON.parse(await readFile(path, 'utf8')) as RunConfig;
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message}); re-run plastisort train`);
  }
  if (config.schema !== RUN_SCHEMA) {
    throw new UserError(`${path}: schema is ${String(config.schema)}, expected ${RUN_SCHEMA}; re-run plastisort train`);
  }
  return config;
}

/** The manifest a run was trained on, as config.json records it; a one-line error when it records none. */
export function recordedManifest(config: RunConfig, runDir: string): { path: string; sha256: string } {
  if (!config.manifest?.path) {
    throw new UserError(`${runDir}/config.json records no split manifest; pass --manifest FILE (the split the run was trained on)`);
  }
  return config.manifest;
}

/** The run's config and its whole classifier (backend initialised on first use). */
export async function loadRun(runDir: string): Promise<{ config: RunConfig; model: tf.LayersModel }> {
  const config = await readRunConfig(runDir);
  if (!existsSync(join(runDir, 'model', 'model.json'))) {
    throw new UserError(`${runDir}: model/model.json is missing; the run did not finish, re-run it`);
  }
  await initBackend();
  const model = await loadModelFolder(join(runDir, 'model'));
  const out = model.outputs[0].shape;
  if (out[out.length - 1] !== config.classes.length) {
    throw new UserError(`${runDir}: the model has ${out[out.length - 1]} outputs but config.json lists ${config.classes.length} classes; re-run the training`);
  }
  return { config, model };
}

/** Bytes (HWC RGB) → the float input the backbone was trained with, batched, row-major NHWC. */
export function toFloatInput(images: Uint8Array[], size: number, s: FloatScaling): Float32Array {
  const per = size * size * 3;
  const buf = new Float32Array(images.length * per);
  images.forEach((img, b) => {
    if (img.length !== per) throw new Error(`image ${b} has ${img.length} bytes, expected ${per} (${size}×${size}×3)`);
    const o = b * per;
    for (let i = 0; i < per; i++) buf[o + i] = img[i] * s.scale + s.offset;
  });
  return buf;
}

export function toInputTensor(images: Uint8Array[], size: number, s: FloatScaling): tf.Tensor4D {
  return tf.tensor4d(toFloatInput(images, size, s), [images.length, size, size, 3]);
}

/** A Predictor over a run folder's float model. */
export async function createRunPredictor(runDir: string): Promise<Predictor> {
  const { config, model } = await loadRun(runDir);
  return {
    classes: config.classes.slice(),
    inputSize: config.inputSize,
    resize: config.resize,
    async predict(images: Uint8Array[]): Promise<Float32Array[]> {
      if (!images.length) return [];
      const x = toInputTensor(images, config.inputSize, config.floatScaling);
      const y = model.predict(x) as tf.Tensor2D;
      const flat = (await y.data()) as Float32Array;
      x.dispose();
      y.dispose();
      const k = config.classes.length;
      return images.map((_, i) => flat.slice(i * k, (i + 1) * k));
    },
    dispose() {
      model.dispose();
    },
  };
}

export function runIdOf(outDir: string): string {
  return basename(resolve(outDir));
}
