/** The activation cache: reused only when every key field matches; sized up front. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readManifest } from '../../host/data/manifest-io.ts';
import type { SplitManifest } from '../../host/data/manifest.ts';
import { initBackend } from '../../host/train/backend.ts';
import { cacheKeyHash, getFeatures, type FeatureCacheKey } from '../../host/train/features.ts';
import { UserError } from '../../host/util/errors.ts';
import { removeTempDirs, synthManifest, tempDir } from './fixtures.ts';

afterAll(removeTempDirs);

function tinyExtractor(): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] as unknown as number[] });
  const c = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, kernelInitializer: 'ones' }).apply(input) as tf.SymbolicTensor;
  const p = tf.layers.globalAveragePooling2d({}).apply(c) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: p });
}

describe('feature cache', () => {
  let manifest: SplitManifest;
  let sha: string;
  let extractor: tf.LayersModel;
  let cacheRoot: string;
  let base: FeatureCacheKey;

  beforeAll(async () => {
    await initBackend();
    const fx = await synthManifest(['pet_bottle', 'straw'], 6, { size: 64 });
    ({ manifest, sha256: sha } = await readManifest(fx.manifest));
    extractor = tinyExtractor();
    cacheRoot = join(tempDir('cache'), 'features');
    base = {
      version: 1,
      manifestSha256: sha,
      inputSize: 32,
      resize: 'squash',
      floatScaling: { scale: 1 / 127.5, offset: -1 },
      augmentSeed: 1,
      views: 2,
      augment: { flipProbability: 0.5, maxRotationDeg: 15, zoomRange: [0.9, 1.15], brightness: 0.2 },
      frozenSha256: 'a'.repeat(64),
      boundary: 'global_average_pooling2d',
    };
  });

  it('computes once, then reuses the identical key', async () => {
    const first = await getFeatures(extractor, manifest, base, { cacheRoot });
    expect(first.fromCache).toBe(false);
    expect(first.train.views).toBe(2);
    expect(first.train.data.length).toBe(first.train.items * 2 * 4);
    const again = await getFeatures(extractor, manifest, { ...base }, { cacheRoot });
    expect(again.fromCache).toBe(true);
    expect(Array.from(again.train.data)).toEqual(Array.from(first.train.data));
    expect(Array.from(again.test.labels)).toEqual(Array.from(first.test.labels));
  });

  it('augmented views differ from each other', async () => {
    const f = await getFeatures(extractor, manifest, base, { cacheRoot });
    const a = f.train.data.subarray(0, 4);
    const b = f.train.data.subarray(4, 8);
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });

  const changes: Array<[string, Partial<FeatureCacheKey>]> = [
    ['manifest hash', { manifestSha256: 'b'.repeat(64) }],
    ['input size', { inputSize: 40 }],
    ['resize policy', { resize: 'center-crop' }],
    ['input scaling', { floatScaling: { scale: 1 / 255, offset: 0 } }],
    ['augmentation seed', { augmentSeed: 2 }],
    ['number of views', { views: 3 }],
    ['augmentation settings', { augment: { flipProbability: 0, maxRotationDeg: 15, zoomRange: [0.9, 1.15], brightness: 0.2 } }],
    ['backbone (frozen weights) hash', { frozenSha256: 'c'.repeat(64) }],
    ['boundary layer', { boundary: 'block_12_add' }],
  ];
  for (const [what, change] of changes) {
    it(`is not reused when the ${what} changes`, async () => {
      const key = { ...base, ...change } as FeatureCacheKey;
      expect(cacheKeyHash(key)).not.toBe(cacheKeyHash(base));
      const f = await getFeatures(extractor, manifest, key, { cacheRoot });
      expect(f.fromCache).toBe(false);
    });
  }

  it('worker threads (one wasm backend each) give the same activations as the main thread', async () => {
    const key = { ...base, augmentSeed: 7 };
    const one = await getFeatures(extractor, manifest, key, { cacheRoot: join(tempDir('w1'), 'f'), workers: 1 });
    const two = await getFeatures(extractor, manifest, key, { cacheRoot: join(tempDir('w2'), 'f'), workers: 2, batchSize: 4 });
    expect(two.fromCache).toBe(false);
    for (const split of ['train', 'val', 'test'] as const) {
      const a = one[split].data;
      const b = two[split].data;
      expect(b.length).toBe(a.length);
      for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 4);
    }
  });

  it('refuses up front when the cache would not fit, saying how much it needs', async () => {
    const key = { ...base, augmentSeed: 99 };
    const err = await getFeatures(extractor, manifest, key, { cacheRoot, memoryLimitBytes: 100 }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/needs \d+ MB of memory.*--views/);
  });
});
