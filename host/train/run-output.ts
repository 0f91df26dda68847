import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { manifestInputs } from '../data/manifest-io.ts';
import { guardOutDir, holdsAll, type OutGuard } from '../util/out-dir.ts';

/** A run folder: train and finetune may replace each other's (the same kind of folder), nothing else. */
export function runOutput(command: 'train' | 'finetune'): OutGuard {
  return { command, writesInto: ['train', 'finetune'], legacy: holdsAll('config.json', 'model') };
}

/**
 * Refuses a run --out that would delete or sit inside what the run reads: the manifest, its photos,
 * the parent run, the backbone or the feature cache.
 */
export function guardRunOut(out: string, command: 'train' | 'finetune', o: { manifest?: string; from?: string; backbone?: string; cacheRoot?: string }): void {
  guardOutDir(out, {
    ...runOutput(command),
    inputs: [...manifestInputs(o.manifest), o.from, o.backbone && o.backbone !== 'nsfwjs' ? o.backbone : undefined, o.cacheRoot ?? '.cache/features'],
  });
}

/** The manifest a run folder was trained on, read cheaply (undefined when the run is unreadable). */
export function parentManifestPath(runDir: string): string | undefined {
  try {
    const p = (JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')) as { manifest?: { path?: unknown } }).manifest?.path;
    return typeof p === 'string' ? p : undefined;
  } catch {
    return undefined;
  }
}
