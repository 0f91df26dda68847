/**
 * Activation cache at the freeze boundary: the frozen part of the network runs once per image view
 * (K augmented views of each training image, one clean view of each val/test image), so a training
 * epoch costs only the trainable tail. Stored under `.cache/features/<hash of the key>/`; the key
 * holds everything the activations depend on, so a changed input never meets a stale cache.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync, statfsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { freemem } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { augmentRgb, loadImageRgb, manifestItemPath, type ResizePolicy } from '../data/images.ts';
import { createRng } from '../util/rng.ts';
import type { ManifestItem, SplitManifest, SplitName } from '../data/manifest.ts';
import { stableJson, writeDirAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { progressBar } from '../util/progress.ts';
import type { FloatScaling } from './backbones.ts';
import type { HyperParameters } from './run-folder.ts';
import { toFloatInput } from './run-folder.ts';
import { startInferencePool, type InferencePool } from './inference-pool.ts';

export const CACHE_VERSION = 1;

export interface FeatureCacheKey {
  version: number;
  manifestSha256: string;
  inputSize: number;
  resize: ResizePolicy;
  floatScaling: FloatScaling;
  augmentSeed: number;
  views: number;
  augment: HyperParameters['augment'];
  /** SHA-256 of the weights of every layer up to the boundary (the frozen part). */
  frozenSha256: string;
  boundary: string;
}

export interface SplitFeatures {
  /** Row-major [items × views, ...shape] for train (item-major: row = item·views + view), [items, ...shape] otherwise. */
  data: Float32Array;
  labels: Int32Array;
  views: number;
  items: number;
}

export interface FeatureSet {
  key: FeatureCacheKey;
  dir: string;
  /** Shape of one activation (no batch axis). */
  shape: number[];
  train: SplitFeatures;
  val: SplitFeatures;
  test: SplitFeatures;
  /** True when read from disk rather than computed. */
  fromCache: boolean;
  seconds: number;
}

export function cacheKeyHash(key: FeatureCacheKey): string {
  return createHash('sha256').update(stableJson(key)).digest('hex').slice(0, 24);
}

/** SHA-256 over the names, shapes and values of the weights of `model`'s layers up to `boundary`. */
export function frozenWeightsHash(model: tf.LayersModel, boundary: string): string {
  const h = createHash('sha256');
  for (const layer of model.layers) {
    for (const w of layer.weights) {
      h.update(`${w.originalName}:${w.shape.join('x')};`);
      const v = w.read().dataSync() as Float32Array;
      h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
    if (layer.name === boundary) break;
  }
  return h.digest('hex');
}

function viewSeed(augmentSeed: number, item: ManifestItem, view: number): number {
  const d = createHash('sha256').update(`${augmentSeed}|${item.sha256}|${item.path}|${view}`).digest();
  return d.readUInt32LE(0);
}

export interface CacheOptions {
  cacheRoot?: string;
  batchSize?: number;
  /** Memory the cache may take; default 70% of free memory. Tests pass small values. */
  memoryLimitBytes?: number;
  label?: string;
  /**
   * Worker threads for the forward passes (each its own wasm backend); 1 runs them on this thread.
   * Ignored on backends other than wasm, which thread natively (tfjs-node) or not at all (cpu).
   */
  workers?: number;
}

export function splitItemsOf(manifest: SplitManifest, split: SplitName): ManifestItem[] {
  return manifest.items.filter((it) => it.split === split);
}

const MB = 1024 * 1024;

/** Bytes the cache needs; throws a UserError saying how much when memory or disk cannot hold it. */
export function checkCacheFits(bytes: number, cacheRoot: string, what: string, memoryLimitBytes?: number): void {
  const memLimit = memoryLimitBytes ?? Math.floor(freemem() * 0.7);
  if (bytes > memLimit) {
    throw new UserError(
      `the activation cache for ${what} needs ${(bytes / MB).toFixed(0)} MB of memory but only ${(memLimit / MB).toFixed(0)} MB may be used; ` +
        'lower --views or --input-size, or free memory',
    );
  }
  try {
    let dir = resolve(cacheRoot);
    while (!existsSync(dir)) dir = resolve(dir, '..');
    const fs = statfsSync(dir);
    const free = fs.bavail * fs.bsize;
    if (bytes > free) {
      throw new UserError(
        `the activation cache for ${what} needs ${(bytes / MB).toFixed(0)} MB of disk under ${cacheRoot} but ${(free / MB).toFixed(0)} MB are free; ` +
          'free disk space or lower --views',
      );
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
  }
}

interface CacheMeta {
  key: FeatureCacheKey;
  shape: number[];
  counts: Record<SplitName, { items: number; views: number }>;
  paths: Record<SplitName, string[]>;
}

async function readCache(dir: string, key: FeatureCacheKey, manifest: SplitManifest): Promise<FeatureSet | undefined> {
  const metaPath = join(dir, 'meta.json');
  if (!existsSync(metaPath)) return undefined;
  try {
    const meta = JSON.parse(await readFile(metaPath, 'utf8')) as CacheMeta;
    if (stableJson(meta.key) !== stableJson(key)) return undefined;
    const per = meta.shape.reduce((a, b) => a * b, 1);
    const out: Partial<Record<SplitName, SplitFeatures>> = {};
    for (const split of ['train', 'val', 'test'] as SplitName[]) {
      const items = splitItemsOf(manifest, split);
      if (items.map((i) => i.path).join('\n') !== meta.paths[split].join('\n')) return undefined;
      const { views } = meta.counts[split];
      const bytes = await readFile(join(dir, `${split}.f32`));
      if (bytes.byteLength !== items.length * views * per * 4) return undefined;
      const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      out[split] = { data, labels: Int32Array.from(items.map((i) => i.label)), views, items: items.length };
    }
    return { key, dir, shape: meta.shape, train: out.train!, val: out.val!, test: out.test!, fromCache: true, seconds: 0 };
  } catch {
    return undefined;
  }
}

/**
 * Activations of `extractor` (the frozen part, input → boundary) for every split: from the cache when
 * its key matches, else computed and stored.
 */
export async function getFeatures(
  extractor: tf.LayersModel,
  manifest: SplitManifest,
  key: FeatureCacheKey,
  opts: CacheOptions = {},
): Promise<FeatureSet> {
  const root = opts.cacheRoot ?? join('.cache', 'features');
  // Before any extraction (train and finetune check --cache-dir up front: guardCacheDir).
  if (existsSync(root) && !statSync(root).isDirectory()) throw new UserError(`--cache-dir ${root} is a file; name a folder for the activation cache`);
  const dir = resolve(root, cacheKeyHash(key));
  const t0 = Date.now();
  const cached = await readCache(dir, key, manifest);
  if (cached) {
    log.info(`features: reusing cached ${key.boundary} activations from ${dir}`);
    return cached;
  }
  const shape = (extractor.outputs[0].shape.slice(1) as number[]).map((d) => d);
  const per = shape.reduce((a, b) => a * b, 1);
  const splits = (['train', 'val', 'test'] as SplitName[]).map((split) => ({
    split,
    items: splitItemsOf(manifest, split),
    views: split === 'train' ? key.views : 1,
  }));
  for (const s of splits) {
    if (!s.items.length) throw new UserError(`the manifest has no ${s.split} items; re-split with a non-zero ${s.split} ratio`);
  }
  const rows = splits.reduce((n, s) => n + s.items.length * s.views, 0);
  const bytes = rows * per * 4;
  checkCacheFits(bytes, root, `${rows} views of ${key.boundary} [${shape.join('×')}]`, opts.memoryLimitBytes);
  log.info(`features: computing ${rows} views of ${key.boundary} [${shape.join('×')}] (${(bytes / MB).toFixed(0)} MB) into ${dir}`);

  const batchSize = opts.batchSize ?? 16;
  const result: Partial<Record<SplitName, SplitFeatures>> = {};
  let pool: InferencePool | undefined;
  const wanted = tf.getBackend() === 'wasm' ? (opts.workers ?? 1) : 1;
  if (wanted > 1) {
    try {
      pool = await startInferencePool(extractor, wanted);
      log.info(`features: ${wanted} worker threads, one wasm backend each`);
    } catch (e) {
      log.warn(`features: worker threads unavailable (${(e as Error).message}); running on one thread`);
    }
  }
  const inShape = [key.inputSize, key.inputSize, 3];
  const infer = async (input: Float32Array, n: number): Promise<Float32Array> => {
    if (pool) return pool.run(input, [n, ...inShape]);
    const x = tf.tensor4d(input, [n, key.inputSize, key.inputSize, 3]);
    const y = extractor.predict(x) as tf.Tensor;
    const out = (await y.data()) as Float32Array;
    x.dispose();
    y.dispose();
    return out;
  };
  const maxInFlight = pool ? pool.size * 2 : 1;
  const bar = progressBar(opts.label ?? 'features', rows);
  try {
    for (const { split, items, views } of splits) {
      const data = new Float32Array(items.length * views * per);
      // Work list of (item, view) in row order; images are decoded once per item.
      const jobs: Array<{ item: number; view: number }> = [];
      items.forEach((_, i) => {
        for (let v = 0; v < views; v++) jobs.push({ item: i, view: v });
      });
      const decoded = new Map<number, Promise<Uint8Array>>();
      const image = (i: number) => {
        let p = decoded.get(i);
        if (!p) {
          p = loadImageRgb(manifestItemPath(manifest, items[i]), key.inputSize, key.resize);
          decoded.set(i, p);
        }
        return p;
      };
      const prepare = async (start: number) => {
        const batch = jobs.slice(start, start + batchSize);
        return Promise.all(
          batch.map(async ({ item, view }) => {
            const rgb = await image(item);
            if (split !== 'train') return rgb;
            return augmentRgb(rgb, key.inputSize, createRng(viewSeed(key.augmentSeed, items[item], view)), key.augment);
          }),
        );
      };
      let next = prepare(0);
      const inFlight: Promise<void>[] = [];
      for (let start = 0; start < jobs.length; start += batchSize) {
        const imgs = await next;
        if (start + batchSize < jobs.length) {
          next = prepare(start + batchSize);
          next.catch(() => {});
        }
        // Decoded images of finished items are no longer needed.
        for (const j of jobs.slice(start, start + batchSize)) if (j.view === views - 1) decoded.delete(j.item);
        const at = start * per;
        const task = infer(toFloatInput(imgs, key.inputSize, key.floatScaling), imgs.length).then((out) => {
          data.set(out, at);
          bar.tick(imgs.length);
        });
        // Surfaced when awaited; never an unhandled rejection if an earlier task fails first.
        task.catch(() => {});
        inFlight.push(task);
        if (inFlight.length >= maxInFlight) await inFlight.shift();
      }
      await Promise.all(inFlight);
      result[split] = { data, labels: Int32Array.from(items.map((i) => i.label)), views, items: items.length };
    }
  } finally {
    bar.stop();
    await pool?.close();
  }
  const meta: CacheMeta = {
    key,
    shape,
    counts: Object.fromEntries(splits.map((s) => [s.split, { items: s.items.length, views: s.views }])) as CacheMeta['counts'],
    paths: Object.fromEntries(splits.map((s) => [s.split, s.items.map((i) => i.path)])) as CacheMeta['paths'],
  };
  await mkdir(resolve(root), { recursive: true });
  await writeDirAtomic(dir, async (tmp) => {
    for (const split of ['train', 'val', 'test'] as SplitName[]) {
      const d = result[split]!.data;
      await writeFile(join(tmp, `${split}.f32`), new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
    await writeFile(join(tmp, 'meta.json'), stableJson(meta));
  });
  return {
    key,
    dir,
    shape,
    train: result.train!,
    val: result.val!,
    test: result.test!,
    fromCache: false,
    seconds: (Date.now() - t0) / 1000,
  };
}

/**
 * Runs cached activations through a frozen `segment` (e.g. block_13 … global pooling): the baseline
 * gets its pooled features from the fine-tuning boundary's cache, so the expensive front of the
 * network runs once per view for both stages.
 */
export function projectFeatures(segment: tf.LayersModel, f: FeatureSet, label: string, batchSize = 32): FeatureSet {
  const inShape = f.shape;
  const per = inShape.reduce((a, b) => a * b, 1);
  const outShape = segment.outputs[0].shape.slice(1) as number[];
  const outPer = outShape.reduce((a, b) => a * b, 1);
  const project = (s: SplitFeatures): SplitFeatures => {
    const rows = s.items * s.views;
    const data = new Float32Array(rows * outPer);
    for (let r = 0; r < rows; r += batchSize) {
      const n = Math.min(batchSize, rows - r);
      const y = tf.tidy(() => segment.predict(tf.tensor(s.data.subarray(r * per, (r + n) * per), [n, ...inShape])) as tf.Tensor);
      data.set(y.dataSync() as Float32Array, r * outPer);
      y.dispose();
    }
    return { data, labels: s.labels, views: s.views, items: s.items };
  };
  const t0 = Date.now();
  log.info(`${label}: projecting cached ${f.key.boundary} activations to [${outShape.join('×')}]`);
  return {
    key: f.key,
    dir: f.dir,
    shape: outShape,
    train: project(f.train),
    val: project(f.val),
    test: project(f.test),
    fromCache: f.fromCache,
    seconds: f.seconds + (Date.now() - t0) / 1000,
  };
}
