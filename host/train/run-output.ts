import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { manifestInputs } from '../data/manifest-io.ts';
import { UserError } from '../util/errors.ts';
import { guardOutDir, holdsAll, isInside, realOrResolved, type OutGuard } from '../util/out-dir.ts';

/** Where train and finetune keep activations when --cache-dir is not given. */
export const DEFAULT_CACHE_ROOT = '.cache/features';

/** A run folder: train and finetune may replace each other's (the same kind of folder), nothing else. */
export function runOutput(command: 'train' | 'finetune'): OutGuard {
  return { command, writesInto: ['train', 'finetune'], legacy: holdsAll('config.json', 'model') };
}

/**
 * Refuses a run --out that would delete or sit inside what the run reads: the manifest, its photos,
 * the parent run, the backbone or the feature cache.
 */
/** What train and finetune read: the manifest and its photo folder, the parent run, a backbone on disk. */
function runInputs(o: { manifest?: string; from?: string; backbone?: string }): Array<string | undefined> {
  return [...manifestInputs(o.manifest), o.from, o.backbone && o.backbone !== 'nsfwjs' ? o.backbone : undefined];
}

export function guardRunOut(out: string, command: 'train' | 'finetune', o: { manifest?: string; from?: string; backbone?: string; cacheRoot?: string }): void {
  guardOutDir(out, { ...runOutput(command), inputs: [...runInputs(o), o.cacheRoot ?? DEFAULT_CACHE_ROOT] });
}

/**
 * Refuses, before any work, a --cache-dir the activation cache (tens of MB of `<hash>/{train,val,test}.f32`)
 * may not be written to: a file or a path below one, a folder we may not write in, or a folder that is or
 * lies inside what the run reads (the manifest, its photo folder, the parent run, the backbone) or inside
 * the run folder it writes (replaced as a whole).
 */
export function guardCacheDir(cacheRoot: string | undefined, o: { out: string; manifest?: string; from?: string; backbone?: string }): void {
  const dir = cacheRoot ?? DEFAULT_CACHE_ROOT;
  const opt = `--cache-dir ${dir}`;
  const fix = `name a folder of its own for the activation cache, e.g. --cache-dir ${DEFAULT_CACHE_ROOT} (nothing was written)`;
  if (dir.trim() === '') throw new UserError(`--cache-dir is empty; ${fix}`);
  const abs = realOrResolved(dir);
  for (const input of runInputs(o)) {
    if (!input) continue;
    const inp = realOrResolved(input);
    if (abs === inp) throw new UserError(`${opt} is the input ${input}; ${fix}`);
    if (isInside(abs, inp)) throw new UserError(`${opt} lies inside the input ${input}; ${fix}`);
  }
  const out = realOrResolved(o.out);
  if (abs === out || isInside(abs, out)) throw new UserError(`${opt} is or lies inside --out ${o.out}, which is replaced as a whole; ${fix}`);
  if (existsSync(abs) && !statSync(abs).isDirectory()) throw new UserError(`${opt} is a file; ${fix}`);
  let parent = abs;
  while (!existsSync(parent)) parent = dirname(parent);
  if (!statSync(parent).isDirectory()) throw new UserError(`${opt}: ${parent} is a file, not a folder; ${fix}`);
  try {
    accessSync(parent, constants.W_OK);
  } catch {
    throw new UserError(`${opt}: no permission to write in ${parent}; choose a folder you can write to`);
  }
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
