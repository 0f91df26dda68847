/**
 * ImageNet MobileNetV2 weights the way Keras users get them: `MobileNetV2(weights="imagenet")` downloads
 * the official `.h5` once into a cache and reuses it. `--backbone imagenet` (and no `--backbone`) looks,
 * in order, at the user's cache, at ../shared/backbones beside the checkout, downloads the file, and only
 * then falls back to nsfwjs.
 *
 * Integrity: Keras publishes no hash for its MobileNetV2 weight files (keras.applications calls get_file
 * without file_hash for them), so none is pinned here. The SHA-256 of the first download that passes
 * the checks is recorded (trust on first use) and every later download or load must match it; the
 * checks themselves are structural (every MobileNetV2 1.0 weight, right shapes) and a known image.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { writeJsonAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { checkKerasImagenetH5, type CheckResults } from './backbone-check.ts';
import { FETCH_COMMAND } from './backbones.ts';
import { DownloadError, downloadFile } from './download.ts';

/** Where keras.applications.mobilenet_v2 downloads from (its BASE_WEIGHT_PATH). */
export const KERAS_BASE_URL = 'https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/';
/** The with-top file `MobileNetV2(weights="imagenet")` fetches for alpha 1.0, 224×224 (≈14 MB). */
export const IMAGENET_H5 = 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5';
/** `include_top=False` fetches this one; plastisort takes the with-top file, whose classifier the known-image check needs. */
export const IMAGENET_H5_NO_TOP = 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5';
const SHARED_IMAGENET = join('shared', 'backbones', 'mobilenet_v2_1.0_224_imagenet');

/** Where the weights used by a run came from; recorded in config.json and shown in the report. */
export interface BackboneOrigin {
  /** given: named by --backbone; cache / shared / download: how `imagenet` was resolved; fallback: nsfwjs. */
  via: 'given' | 'cache' | 'shared' | 'download' | 'fallback';
  url?: string;
  fetchedAt?: string;
  checks?: CheckResults;
  /** Why the fallback was taken. */
  reason?: string;
}

/** Overrides of the environment; tests point these at a temporary cache and a loopback server. */
export interface BackboneEnv {
  /** Default: $XDG_CACHE_HOME/plastisort, else ~/.cache/plastisort. */
  cacheDir?: string;
  /** Default: $PLASTISORT_BACKBONE_BASE_URL, else KERAS_BASE_URL. */
  baseUrl?: string;
  /** Default: PLASTISORT_OFFLINE=1 (the CLI's --offline sets it). */
  offline?: boolean;
  /** The ImageNet folder in ../shared; null: none. Default: searched upward from the working folder. */
  shared?: string | null;
  /** Download attempts per call (each resumes the partial file). */
  attempts?: number;
}

/** What is stored beside each fetched file as `FILE.json`. */
export interface WeightsRecord {
  file: string;
  url: string;
  sha256: string;
  bytes: number;
  fetchedAt: string;
  /** 'first use': no published hash exists, this is the hash of the first download that passed the checks. */
  trust: 'first use' | 'matched the first use';
  checks: CheckResults;
}

export function userCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  // The XDG spec says to ignore a relative value.
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'plastisort');
}

function settings(env: BackboneEnv) {
  const base = env.baseUrl ?? process.env.PLASTISORT_BACKBONE_BASE_URL ?? KERAS_BASE_URL;
  return {
    dir: join(env.cacheDir ?? userCacheDir(), 'backbones'),
    url: (base.endsWith('/') ? base : `${base}/`) + IMAGENET_H5,
    offline: env.offline ?? ['1', 'true', 'yes'].includes((process.env.PLASTISORT_OFFLINE ?? '').toLowerCase()),
    shared: env.shared === null ? undefined : (env.shared ?? findSharedImagenet()),
    attempts: env.attempts,
  };
}

/** ../shared/backbones/mobilenet_v2_1.0_224_imagenet beside the checkout (searched upward), if there. */
export function findSharedImagenet(from = process.cwd()): string | undefined {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const candidate = join(dir, '..', SHARED_IMAGENET);
    if (existsSync(candidate)) return resolve(candidate);
    if (dirname(dir) === dir) return undefined;
  }
}

const recordPath = (file: string) => `${file}.json`;

export async function readRecord(file: string): Promise<WeightsRecord | undefined> {
  const p = recordPath(file);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(await readFile(p, 'utf8')) as WeightsRecord;
  } catch {
    throw new UserError(`${p}: not readable JSON; delete it and ${basename(file)}, then run ${FETCH_COMMAND}`);
  }
}

/** SHA-256 recorded by the first download that passed the checks, per file name (trust on first use). */
const trustPath = (dir: string) => join(dir, 'trusted-sha256.json');

async function trustedHashes(dir: string): Promise<Record<string, string>> {
  return existsSync(trustPath(dir)) ? (JSON.parse(await readFile(trustPath(dir), 'utf8')) as Record<string, string>) : {};
}

export interface FetchResult {
  path: string;
  record: WeightsRecord;
  /** False when a checked copy was already there. */
  downloaded: boolean;
  /** Bytes a partial file from an earlier, interrupted call already held. */
  resumedFrom: number;
}

/**
 * Makes sure a checked copy of the official with-top `.h5` is in `to` (default: the user's cache),
 * downloading (resumably) when needed. Throws DownloadError when the network or the file fails.
 */
export async function fetchImagenet(env: BackboneEnv = {}, to?: string): Promise<FetchResult> {
  const s = settings(env);
  const dir = to ? resolve(to) : s.dir;
  const path = join(dir, IMAGENET_H5);
  const existing = existsSync(path) ? await readRecord(path) : undefined;
  if (existing) return { path, record: existing, downloaded: false, resumedFrom: 0 };
  if (existsSync(path)) {
    throw new UserError(`${path} exists but was not fetched by plastisort (no ${basename(recordPath(path))}); move it away or pass it with --backbone`);
  }
  if (s.offline) {
    throw new UserError(`offline (--offline or PLASTISORT_OFFLINE=1): cannot download ${s.url}; run ${FETCH_COMMAND} on a machine with network access`);
  }
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    const fix = to ? 'pass a writable --to folder' : 'set XDG_CACHE_HOME to a writable folder';
    throw new UserError(`cannot create ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ${fix}`);
  }
  // The trusted hash lives in the user's cache, also for downloads to --to.
  const trusted = (await trustedHashes(s.dir))[IMAGENET_H5];
  let checks: CheckResults | undefined;
  log.info(`backbone: downloading the Keras ImageNet MobileNetV2 weights from ${s.url}`);
  const got = await downloadFile(s.url, path, {
    label: IMAGENET_H5,
    attempts: s.attempts,
    verify: async (file, sha) => {
      if (trusted && trusted !== sha) {
        throw new Error(`SHA-256 ${sha} differs from ${trusted} recorded at the first download (${trustPath(s.dir)})`);
      }
      checks = await checkKerasImagenetH5(file, s.shared);
    },
  });
  const record: WeightsRecord = {
    file: IMAGENET_H5,
    url: s.url,
    sha256: got.sha256,
    bytes: got.bytes,
    fetchedAt: new Date().toISOString(),
    trust: trusted ? 'matched the first use' : 'first use',
    checks: checks!,
  };
  await writeJsonAtomic(recordPath(path), record);
  if (!trusted) await writeJsonAtomic(trustPath(s.dir), { ...(await trustedHashes(s.dir)), [IMAGENET_H5]: got.sha256 });
  log.info(`backbone: ${got.bytes} bytes, SHA-256 ${got.sha256}${got.resumedFrom ? ` (resumed at byte ${got.resumedFrom})` : ''}; ${record.checks.knownImage}`);
  return { path, record, downloaded: true, resumedFrom: got.resumedFrom };
}

export interface ImagenetResolution {
  /** A path for loadBackbone, or 'nsfwjs'. */
  spec: string;
  origin: BackboneOrigin;
}

/**
 * Downloads and fallbacks are remembered per settings for this process, so the pipeline and its
 * trainer try the network and warn once, and both record how the weights were really obtained.
 */
const remembered = new Map<string, ImagenetResolution>();

export async function resolveImagenet(env: BackboneEnv = {}): Promise<ImagenetResolution> {
  const s = settings(env);
  const key = JSON.stringify(s);
  const known = remembered.get(key);
  if (known && (known.spec === 'nsfwjs' || existsSync(known.spec))) return known;
  const cached = join(s.dir, IMAGENET_H5);
  if (existsSync(cached) && existsSync(recordPath(cached))) return { spec: cached, origin: { via: 'cache' } };
  if (s.shared && existsSync(join(s.shared, 'tfjs', 'model.json'))) return { spec: join(s.shared, 'tfjs'), origin: { via: 'shared' } };
  let reason: string;
  if (s.offline) {
    reason = 'offline (--offline or PLASTISORT_OFFLINE=1) and no ImageNet weights in the cache or ../shared';
  } else {
    try {
      const got = await fetchImagenet(env);
      const downloaded: ImagenetResolution = { spec: got.path, origin: { via: 'download' } };
      remembered.set(key, downloaded);
      return downloaded;
    } catch (e) {
      if (!(e instanceof DownloadError)) throw e;
      reason = `download failed: ${e.message}`;
    }
  }
  log.warn(`no ImageNet MobileNetV2 weights: ${reason}`);
  const fallback: ImagenetResolution = { spec: 'nsfwjs', origin: { via: 'fallback', reason } };
  remembered.set(key, fallback);
  return fallback;
}

export interface CacheEntry {
  path: string;
  bytes: number;
  record?: WeightsRecord;
  /** A partial download the next fetch resumes. */
  partial: boolean;
}

/** What `plastisort backbone info` shows. */
export async function describeCache(env: BackboneEnv = {}): Promise<{
  cacheDir: string;
  url: string;
  offline: boolean;
  shared?: string;
  trusted: Record<string, string>;
  entries: CacheEntry[];
}> {
  const s = settings(env);
  const entries: CacheEntry[] = [];
  if (existsSync(s.dir)) {
    for (const name of readdirSync(s.dir).sort()) {
      const path = join(s.dir, name);
      if (name.endsWith('.h5')) entries.push({ path, bytes: statSync(path).size, record: await readRecord(path), partial: false });
      if (name.endsWith('.h5.part')) entries.push({ path, bytes: statSync(path).size, partial: true });
    }
  }
  return { cacheDir: s.dir, url: s.url, offline: s.offline, shared: s.shared, trusted: await trustedHashes(s.dir), entries };
}
