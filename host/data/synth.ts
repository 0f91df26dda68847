/**
 * Built-in synthetic dataset: drawn "photos" of plastic items (synth-scene.ts), one folder per class,
 * so the whole pipeline runs (and its tests run) without any downloaded data. Images are seeded by
 * (seed, class, index), so asking for fewer classes or fewer images gives the same files for what is kept.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { progressBar } from '../util/progress.ts';
import { stableJson, writeDirAtomic } from '../util/atomic.ts';
import { guardOutDir, holdsJson, type OutGuard } from '../util/out-dir.ts';
import { renderSynthPng, SYNTH_CLASSES, synthImageSeed, type SynthClass } from './synth-scene.ts';

export interface SynthOptions {
  /** Output folder (replaced atomically). */
  out: string;
  perClass?: number;
  size?: number;
  seed?: number;
  classes?: readonly string[];
  /** Images rendered at once (libvips threads do the work). */
  concurrency?: number;
  /** Show a progress bar (default true). */
  progress?: boolean;
}

export interface SynthResult {
  out: string;
  classes: string[];
  perClass: number;
  size: number;
  seed: number;
  files: number;
}

function checkClasses(classes: readonly string[]): SynthClass[] {
  if (classes.length === 0) throw new UserError(`--classes is empty; give one or more of ${SYNTH_CLASSES.join(',')}`);
  const seen = new Set<string>();
  for (const c of classes) {
    if (!(SYNTH_CLASSES as readonly string[]).includes(c)) {
      throw new UserError(`--classes: "${c}" is not a synthetic class; use some of ${SYNTH_CLASSES.join(',')}`);
    }
    if (seen.has(c)) throw new UserError(`--classes: "${c}" is given twice; list each class once`);
    seen.add(c);
  }
  return classes as SynthClass[];
}

/** Runs `tasks` with at most `limit` in flight; results in task order. */
export async function runPool<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker));
  return results;
}

/** A folder data synth wrote: by marker, or (before markers) by the synth.json it always writes. */
export const SYNTH_OUTPUT: OutGuard = { command: 'data synth', legacy: holdsJson('synth.json', 'generator', 'plastisort data synth') };

/**
 * Writes `out/<class>/<class>_NNNN.png` for every class, plus `out/synth.json` recording the
 * arguments. The folder is built under a temporary name and renamed into place.
 */
export async function generateSynthDataset(opts: SynthOptions): Promise<SynthResult> {
  const perClass = opts.perClass ?? 120;
  const size = opts.size ?? 160;
  const seed = opts.seed ?? 1;
  const classes = checkClasses(opts.classes ?? SYNTH_CLASSES);
  if (!Number.isInteger(perClass) || perClass < 1 || perClass > 100_000) {
    throw new UserError(`--per-class ${perClass} is out of range; use a whole number from 1 to 100000`);
  }
  if (!Number.isInteger(size) || size < 32 || size > 1024) {
    throw new UserError(`--size ${size} is out of range; use a whole number of pixels from 32 to 1024`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new UserError(`--seed ${seed} is out of range; use a whole number from 0 to 4294967295`);
  }
  guardOutDir(opts.out, SYNTH_OUTPUT);
  const total = classes.length * perClass;
  const bar = opts.progress === false ? null : progressBar('synth', total);
  const digits = Math.max(4, String(perClass - 1).length);
  await writeDirAtomic(opts.out, async (tmp) => {
    for (const c of classes) await mkdir(join(tmp, c), { recursive: true });
    await runPool(total, opts.concurrency ?? 4, async (k) => {
      const cls = classes[Math.floor(k / perClass)]!;
      const i = k % perClass;
      const png = await renderSynthPng(cls, synthImageSeed(seed, cls, i), size);
      await writeFile(join(tmp, cls, `${cls}_${String(i).padStart(digits, '0')}.png`), png);
      bar?.tick();
    });
    await writeFile(
      join(tmp, 'synth.json'),
      stableJson({ generator: 'plastisort data synth', seed, size, perClass, classes }),
    );
  }, SYNTH_OUTPUT).catch(async (e) => {
    bar?.stop();
    throw e;
  });
  bar?.stop();
  return { out: opts.out, classes: [...classes], perClass, size, seed, files: total };
}
