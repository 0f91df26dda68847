/**
 * Leakage checks between two split manifests: how many images of one manifest's evaluation splits were
 * training or validation images of the manifest a model was trained on, matched by content (the pixel
 * SHA-256 of each item, so a copy of a training photo under another name or folder counts too).
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { readManifest } from './manifest-io.ts';
import type { ManifestItem, SplitManifest } from './manifest.ts';

/** Runs record the manifest path as given at training time: absolute, relative to that working directory, or to the run. */
export function recordedManifestPath(runDir: string | undefined, path: string): string {
  if (isAbsolute(path) || existsSync(path) || !runDir) return path;
  const fromRun = join(runDir, path);
  return existsSync(fromRun) ? fromRun : path;
}

/**
 * The manifest a run was trained on, when it is still readable at its recorded path with its recorded
 * SHA-256; otherwise why not (`missing` or `changed`), since then its splits cannot be trusted.
 */
export async function readRecordedManifest(
  recorded: { path: string; sha256: string } | undefined,
  runDir?: string,
): Promise<{ path: string; manifest: SplitManifest } | { path: string; problem: 'missing' | 'changed' }> {
  if (!recorded?.path) return { path: '(none recorded in config.json)', problem: 'missing' };
  const path = recordedManifestPath(runDir, recorded.path);
  if (!existsSync(path)) return { path, problem: 'missing' };
  try {
    const { manifest, sha256 } = await readManifest(path);
    return sha256 === recorded.sha256 ? { path, manifest } : { path, problem: 'changed' };
  } catch {
    return { path, problem: 'changed' };
  }
}

export interface SplitOverlap {
  /** Items counted. */
  n: number;
  /** Of them, images that were training images of the training manifest. */
  trainImages: number;
  /** Images that were validation images (and not also training images) of the training manifest. */
  valImages: number;
}

/** Counts `items` whose pixel SHA-256 is that of a train (or else val) item of `trainedOn`. */
export function overlapWith(trainedOn: SplitManifest, items: readonly ManifestItem[]): SplitOverlap {
  const train = new Set<string>();
  const val = new Set<string>();
  for (const it of trainedOn.items) {
    if (it.split === 'train') train.add(it.sha256);
    else if (it.split === 'val') val.add(it.sha256);
  }
  const r: SplitOverlap = { n: items.length, trainImages: 0, valImages: 0 };
  for (const it of items) {
    if (train.has(it.sha256)) r.trainImages++;
    else if (val.has(it.sha256)) r.valImages++;
  }
  return r;
}
