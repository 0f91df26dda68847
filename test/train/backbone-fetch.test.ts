/**
 * `--backbone imagenet`: cache → ../shared → download → nsfwjs, against a loopback HTTP server that
 * serves a complete MobileNetV2 weights file in the Keras layout (written by keras-h5.ts). Every test
 * has its own cache folder; the user's real cache is never touched. The known-image check with real
 * ImageNet weights needs ../shared and skips visibly without it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../../host/train/backend.ts';
import { fetchImagenet, IMAGENET_H5, resolveImagenet, type BackboneEnv } from '../../host/train/backbone-cache.ts';
import { FETCH_COMMAND, loadBackbone, readKerasH5 } from '../../host/train/backbones.ts';
import { DownloadError } from '../../host/train/download.ts';
import type { RunConfig } from '../../host/train/run-folder.ts';
import { trainBaseline } from '../../host/train/trainer.ts';
import { removeTempDirs, synthManifest } from './fixtures.ts';
import { mobilenetV2KerasLayers, writeKerasWeightsH5 } from './keras-h5.ts';
import { WeightsServer } from './weights-server.ts';

const sharedImagenet = resolve(import.meta.dirname, '../../../shared/backbones/mobilenet_v2_1.0_224_imagenet');
const haveShared = existsSync(join(sharedImagenet, 'tfjs', 'model.json')) && existsSync(join(sharedImagenet, 'samples', 'hot_dog.jpg'));
if (!haveShared) console.warn(`SKIPPED: known-image check on real ImageNet weights — ${sharedImagenet} is absent`);

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const server = new WeightsServer();
let weights: Uint8Array;
let otherWeights: Uint8Array;
let work: string;
let n = 0;

/** A fresh cache folder for one test, ../shared hidden unless given. */
function env(extra: BackboneEnv = {}): BackboneEnv & { cacheDir: string } {
  return { cacheDir: join(work, `cache-${++n}`), baseUrl: server.baseUrl, offline: false, shared: null, attempts: 1, ...extra };
}

function stderrSpy() {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  return { text: () => lines.join(''), restore: () => spy.mockRestore() };
}

beforeAll(async () => {
  await initBackend();
  weights = writeKerasWeightsH5(mobilenetV2KerasLayers(undefined, 1));
  otherWeights = writeKerasWeightsH5(mobilenetV2KerasLayers(undefined, 2));
  work = await mkdtemp(join(tmpdir(), 'plastisort-fetch-'));
  await server.start();
});

afterAll(async () => {
  await server.stop();
  await rm(work, { recursive: true, force: true });
  removeTempDirs();
});

afterEach(() => {
  server.requests = [];
  vi.restoreAllMocks();
});

describe('Keras .h5 weights', () => {
  it('the test writer and the reader agree exactly, and the reader matches jsfive on a file written by h5py', async () => {
    const layers = mobilenetV2KerasLayers(undefined, 7).slice(0, 6);
    const raw = await readKerasH5(writeKerasWeightsH5(layers), 'written.h5');
    for (const l of layers) {
      for (const w of l.weights) {
        const got = raw.get(`${l.name}/${w.name.split('/')[1].replace(':0', '')}`)!;
        expect(got.shape).toEqual(w.shape);
        expect(got.data).toEqual(w.data);
      }
    }
    // The reader copies contiguous float32 datasets from the bytes; jsfive's own `value` is the reference.
    const fixture = new Uint8Array(readFileSync(join(import.meta.dirname, 'fixtures', 'keras-mobilenetv2-first-layers.h5')));
    const jsfive = (await import('jsfive')) as unknown as { File: new (b: ArrayBuffer, n: string) => { get(p: string): { value: number[] } } };
    const file = new jsfive.File(fixture.buffer.slice(0) as ArrayBuffer, 'fixture.h5');
    const fromFixture = await readKerasH5(fixture, 'fixture.h5');
    expect(fromFixture.size).toBe(10);
    for (const [key, w] of fromFixture) {
      const [layer, role] = key.split('/');
      expect(w.data, key).toEqual(Float32Array.from(file.get(`${layer}/${layer}/${role}:0`).value));
    }
  });
});

describe('ImageNet weights download', () => {
  it('downloads once into the cache, records URL, SHA-256 and checks, and loads from the cache afterwards', async () => {
    server.behaviour = { body: weights };
    const e = env();
    const r = await resolveImagenet(e);
    expect(r.origin.via).toBe('download');
    expect(r.spec).toBe(join(e.cacheDir, 'backbones', IMAGENET_H5));
    expect(sha(readFileSync(r.spec))).toBe(sha(weights));
    const record = JSON.parse(readFileSync(`${r.spec}.json`, 'utf8'));
    expect(record).toMatchObject({ url: server.baseUrl + IMAGENET_H5, sha256: sha(weights), bytes: weights.length, trust: 'first use' });
    expect(record.checks.structure).toMatch(/^passed/);
    expect(record.checks.knownImage).toMatch(/^skipped: samples\/hot_dog\.jpg/);
    expect(JSON.parse(readFileSync(join(e.cacheDir, 'backbones', 'trusted-sha256.json'), 'utf8'))).toEqual({ [IMAGENET_H5]: sha(weights) });
    expect(server.requests).toHaveLength(1);
    const again = await fetchImagenet(e);
    expect(again).toMatchObject({ path: r.spec, downloaded: false, record: { sha256: sha(weights) } });

    const b = await loadBackbone('imagenet', e);
    expect(server.requests).toHaveLength(1);
    // In the process that downloaded it the origin stays 'download'; cache-only resolution is tested below.
    expect(b).toMatchObject({ kind: 'h5', fallback: false, sha256: sha(weights), origin: { via: 'download', url: server.baseUrl + IMAGENET_H5 } });
    expect(b.origin?.checks?.structure).toMatch(/^passed/);
    expect(readdirSync(join(e.cacheDir, 'backbones')).sort()).toEqual([IMAGENET_H5, `${IMAGENET_H5}.json`, 'trusted-sha256.json']);
  });

  it('resumes a cut connection with a Range request from where the partial file ends', async () => {
    const cutAfter = 5_000_000;
    server.behaviour = { body: weights, cutAfter };
    const e = env();
    const err = await fetchImagenet(e).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as DownloadError).failure).toBe('network');
    const part = join(e.cacheDir, 'backbones', `${IMAGENET_H5}.part`);
    // What arrived before the cut is kept (bytes still in flight when the socket closed may be lost).
    const kept = readFileSync(part).length;
    expect(kept).toBeGreaterThan(cutAfter / 2);
    expect(kept).toBeLessThanOrEqual(cutAfter);
    expect(existsSync(join(e.cacheDir, 'backbones', IMAGENET_H5))).toBe(false);

    const got = await fetchImagenet(e);
    expect(got.resumedFrom).toBe(kept);
    expect(server.requests.map((q) => q.range)).toEqual([undefined, `bytes=${kept}-`]);
    expect(got.downloaded).toBe(true);
    expect(got.record.sha256).toBe(sha(weights));
    expect(existsSync(part)).toBe(false);

    // Within one call, later attempts resume by themselves.
    const e2 = env({ attempts: 3 });
    const again = await fetchImagenet(e2);
    expect(again.record.sha256).toBe(sha(weights));
    expect(server.requests.slice(2).map((q) => q.range)).toEqual([undefined, expect.stringMatching(/^bytes=[1-9]\d*-$/)]);
  });

  it('restarts from zero when the server answers a Range request with other bytes', async () => {
    server.behaviour = { body: weights, cutAfter: 3_000_000 };
    const e = env();
    await expect(fetchImagenet(e)).rejects.toThrow(DownloadError);
    server.behaviour = { body: weights, wrongRange: true };
    const got = await fetchImagenet({ ...e, attempts: 2 });
    expect(got.record.sha256).toBe(sha(weights));
    expect(server.requests.map((q) => q.range)).toEqual([undefined, expect.stringMatching(/^bytes=[1-9]\d*-$/), undefined]);
  });

  it('refuses a corrupt download and caches nothing', async () => {
    server.behaviour = { body: new TextEncoder().encode('<html>captive portal</html>'.repeat(1000)) };
    const e = env();
    const err = await fetchImagenet(e).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as DownloadError).failure).toBe('integrity');
    expect((err as Error).message).toMatch(/refused: .*not a readable HDF5 file/);
    expect(existsSync(join(e.cacheDir, 'backbones')) ? readdirSync(join(e.cacheDir, 'backbones')) : []).toEqual([]);
  });

  it('refuses a structurally valid file whose SHA-256 differs from the one trusted at first use', async () => {
    server.behaviour = { body: weights };
    const e = env();
    await fetchImagenet(e);
    server.behaviour = { body: otherWeights };
    const to = join(work, `to-${n}`);
    const err = await fetchImagenet(e, to).catch((x: unknown) => x);
    expect((err as DownloadError).failure).toBe('integrity');
    expect((err as Error).message).toContain(`differs from ${sha(weights)} recorded at the first download`);
    expect(existsSync(join(to, IMAGENET_H5))).toBe(false);
    // The same bytes as at first use are accepted at the new place.
    server.behaviour = { body: weights };
    const ok = await fetchImagenet(e, to);
    expect(ok.path).toBe(join(to, IMAGENET_H5));
    expect(ok.record.trust).toBe('matched the first use');
  });

  it('config.json of a run trained on downloaded weights records URL, hash and checks', async () => {
    server.behaviour = { body: weights };
    const e = env();
    const fx = await synthManifest(['pet_bottle', 'straw'], 4, { size: 96 });
    const out = join(work, `run-${n}`);
    await trainBaseline({ manifest: fx.manifest, out, loadedBackbone: await loadBackbone('imagenet', e), inputSize: 96, epochs: 1, views: 1, cacheRoot: join(work, 'features') });
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as RunConfig;
    expect(config.backbone).toMatchObject({ kind: 'h5', sha256: sha(weights), origin: { via: 'download', url: server.baseUrl + IMAGENET_H5 } });
    expect(config.backbone.origin?.checks?.structure).toMatch(/^passed/);
    expect(config.backbone.fallback).toBeUndefined();
  });

  it('refuses to load a cached file changed since it was checked', async () => {
    server.behaviour = { body: weights };
    const e = env();
    const got = await fetchImagenet(e);
    const bytes = readFileSync(got.path);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(got.path, bytes);
    await expect(loadBackbone('imagenet', e)).rejects.toThrow(/differs from .* recorded when it was downloaded and checked; delete it and run plastisort backbone fetch/);
  });
});

describe('fallback to nsfwjs only when every source fails', () => {
  async function expectFallback(e: BackboneEnv, reason: RegExp): Promise<string> {
    const err = stderrSpy();
    try {
      const b = await loadBackbone(undefined, e);
      expect(b.fallback).toBe(true);
      expect(b.kind).toBe('nsfwjs');
      expect(b.origin?.via).toBe('fallback');
      expect(b.origin?.reason).toMatch(reason);
    } finally {
      err.restore();
    }
    const text = err.text();
    expect(text).toContain('re-trained on NSFW data');
    expect(text).toContain(`Fix: run \`${FETCH_COMMAND}\``);
    return text;
  }

  it('a 404 falls back with the warning and the fix', async () => {
    server.behaviour = { body: weights, status: 404 };
    const text = await expectFallback(env(), /download failed: .*HTTP 404/);
    expect(text).toContain('HTTP 404');
  });

  it('no network at all (connection refused) falls back with the warning and the fix', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await expectFallback(env({ baseUrl: `http://127.0.0.1:${port}/keras/` }), /download failed: .*ECONNREFUSED|download failed: .*connect/);
  });

  it('--offline / PLASTISORT_OFFLINE=1 never touches the network', async () => {
    server.behaviour = { body: weights };
    await expectFallback(env({ offline: true }), /^offline/);
    const before = process.env.PLASTISORT_OFFLINE;
    process.env.PLASTISORT_OFFLINE = '1';
    try {
      await expectFallback(env({ offline: undefined }), /^offline/);
      await expect(fetchImagenet(env({ offline: undefined }))).rejects.toThrow(/offline .*run plastisort backbone fetch on a machine with network access/);
    } finally {
      if (before === undefined) delete process.env.PLASTISORT_OFFLINE;
      else process.env.PLASTISORT_OFFLINE = before;
    }
    expect(server.requests).toHaveLength(0);
  });
});

describe('resolution order', () => {
  it('cache before ../shared, ../shared before the network', async () => {
    server.behaviour = { body: weights };
    const fakeShared = join(work, 'shared-imagenet');
    const modelJson = join(fakeShared, 'tfjs', 'model.json');
    await import('node:fs/promises').then((fs) => fs.mkdir(join(fakeShared, 'tfjs'), { recursive: true }));
    writeFileSync(modelJson, '{}');
    const e = env({ shared: fakeShared });
    expect(await resolveImagenet(e)).toEqual({ spec: join(fakeShared, 'tfjs'), origin: { via: 'shared' } });
    expect(server.requests).toHaveLength(0);
    await fetchImagenet(e);
    expect((await resolveImagenet(e)).origin.via).toBe('cache');
  });
});

describe.skipIf(!haveShared)('known-image check on real ImageNet weights (../shared)', () => {
  /** The ../shared tfjs weights as a Keras with-top file: 1001 classes → Keras' 1000 (drop background). */
  async function kerasFileFromShared(shift: number): Promise<Uint8Array> {
    const tfjs = await loadBackbone(join(sharedImagenet, 'tfjs'));
    const k = tfjs.weights.get('predictions/kernel')!;
    const bias = tfjs.weights.get('predictions/bias')!;
    const [inDim, units] = k.shape;
    expect(units).toBe(1001);
    const kernel = new Float32Array(inDim * 1000);
    // Keras class c = tfjs class c + 1; `shift` rotates the classes to make a wrong top.
    for (let j = 0; j < inDim; j++) for (let c = 0; c < 1000; c++) kernel[j * 1000 + c] = k.data[j * units + 1 + ((c + shift) % 1000)];
    const b = Float32Array.from({ length: 1000 }, (_, c) => bias.data[1 + ((c + shift) % 1000)]);
    const folded = new Map(tfjs.weights);
    folded.set('predictions/kernel', { shape: [inDim, 1000], data: kernel });
    folded.set('predictions/bias', { shape: [1000], data: b });
    // keras-applications named the classifier `Logits`; the loader accepts both names.
    return writeKerasWeightsH5(mobilenetV2KerasLayers(folded, 1, 'Logits'));
  }

  it('accepts the with-top file that classifies hot_dog.jpg as "hotdog" and refuses one off by a class', async () => {
    server.behaviour = { body: await kerasFileFromShared(0) };
    const ok = await fetchImagenet(env({ shared: sharedImagenet }));
    expect(ok.record.checks.knownImage).toMatch(/^passed: hot_dog\.jpg → "hotdog"/);

    server.behaviour = { body: await kerasFileFromShared(1) };
    const e = env({ shared: sharedImagenet });
    const err = await fetchImagenet(e).catch((x: unknown) => x);
    expect((err as DownloadError).failure).toBe('integrity');
    expect((err as Error).message).toMatch(/known-image check failed: hot_dog\.jpg classified as "(?!hotdog)/);
    expect(existsSync(join(e.cacheDir, 'backbones', IMAGENET_H5))).toBe(false);
  });
});
