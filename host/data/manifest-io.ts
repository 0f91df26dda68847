/**
 * Reading, writing and checking split manifests.
 *
 * On disk, `root` is stored relative to the manifest's own folder (forward slashes), so the same
 * data and seed give the same bytes on any machine and a project folder can be moved as a whole.
 * In memory (after readManifest, and as built by splitDataset) `root` is absolute.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { UserError } from '../util/errors.ts';
import { sha256Hex } from '../util/hash.ts';
import { readInputFile } from '../util/read-input.ts';
import { stableJson, writeFileAtomic } from '../util/atomic.ts';
import { SPLITS, type SplitManifest, type SplitName } from './manifest.ts';
import { manifestItemPath } from './images.ts';

export const MANIFEST_SCHEMA = 'plastisort.split-manifest/1';

/** The manifest with `root` made relative to `manifestDir`, ready to serialise. */
export function manifestForDisk(manifest: SplitManifest, manifestDir: string): SplitManifest {
  let root = manifest.root;
  if (isAbsolute(root)) {
    root = relative(manifestDir, root).split(sep).join('/');
    if (root === '') root = '.';
  }
  return { ...manifest, root };
}

/** The exact bytes writeManifest would write for `manifest` at `path`. */
export function serializeManifest(path: string, manifest: SplitManifest): string {
  return stableJson(manifestForDisk(manifest, dirname(resolve(path))));
}

/** Writes the manifest atomically with stable bytes (root relative to the manifest's folder). */
export async function writeManifest(path: string, manifest: SplitManifest): Promise<void> {
  await writeFileAtomic(path, serializeManifest(path, manifest));
}

type Check = (cond: unknown, what: string) => asserts cond;

/**
 * Reads and validates a manifest; `root` comes back absolute. `sha256` is that of the file's bytes
 * (runs record it to tie a model to its split). Every problem is a one-line UserError.
 */
export async function readManifest(path: string): Promise<{ manifest: SplitManifest; sha256: string }> {
  const abs = resolve(path);
  const bytes = await readInputFile(abs, 'the split manifest', `create it with plastisort data split --out ${path}`, path);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message}); re-create it with plastisort data split`);
  }
  const check: Check = (cond, what) => {
    if (!cond) throw new UserError(`${path}: not a valid split manifest (${what}); re-create it with plastisort data split`);
  };
  const m = json as Record<string, unknown>;
  check(m !== null && typeof m === 'object' && !Array.isArray(m), 'top level is not an object');
  check(m.schema === MANIFEST_SCHEMA, `schema is ${JSON.stringify(m.schema)}, expected "${MANIFEST_SCHEMA}"`);
  check(typeof m.root === 'string' && m.root.length > 0, 'root missing');
  check(Array.isArray(m.classes) && m.classes.length > 0 && m.classes.every((c) => typeof c === 'string'), 'classes missing');
  const classes = m.classes as string[];
  check(new Set(classes).size === classes.length, 'classes repeat');
  check(Number.isInteger(m.seed), 'seed missing');
  const ratios = m.ratios as Record<string, unknown> | undefined;
  check(ratios && SPLITS.every((s) => typeof ratios[s] === 'number'), 'ratios missing');
  const dedup = m.dedup as Record<string, unknown> | undefined;
  check(dedup && Number.isInteger(dedup.phashBits) && Number.isInteger(dedup.maxHamming), 'dedup missing');
  check(Array.isArray(m.items), 'items missing');
  check(Array.isArray(m.dropped), 'dropped missing');
  check(Array.isArray(m.conflicts), 'conflicts missing');
  check(Number.isInteger(m.duplicateGroups), 'duplicateGroups missing');
  check(m.counts !== null && typeof m.counts === 'object', 'counts missing');
  const hex = /^[0-9a-f]+$/;
  const counted = new Map<string, Record<SplitName, number>>(classes.map((c) => [c, { train: 0, val: 0, test: 0 }]));
  (m.items as unknown[]).forEach((raw, i) => {
    const it = raw as Record<string, unknown>;
    const at = `items[${i}]`;
    check(it !== null && typeof it === 'object', `${at} is not an object`);
    check(typeof it.path === 'string' && it.path.length > 0 && !it.path.includes('\\'), `${at}.path`);
    check(typeof it.sha256 === 'string' && it.sha256.length === 64 && hex.test(it.sha256), `${at}.sha256`);
    check(typeof it.fileSha256 === 'string' && it.fileSha256.length === 64 && hex.test(it.fileSha256), `${at}.fileSha256`);
    check(typeof it.phash === 'string' && hex.test(it.phash), `${at}.phash`);
    check(Number.isInteger(it.width) && (it.width as number) > 0, `${at}.width`);
    check(Number.isInteger(it.height) && (it.height as number) > 0, `${at}.height`);
    check(typeof it.class === 'string' && Number.isInteger(it.label), `${at}.class/label`);
    check(classes[it.label as number] === it.class, `${at}: label ${String(it.label)} is not class "${String(it.class)}"`);
    check(SPLITS.includes(it.split as SplitName), `${at}.split ${JSON.stringify(it.split)}`);
    check(typeof it.source === 'string', `${at}.source`);
    check(Number.isInteger(it.group), `${at}.group`);
    counted.get(it.class as string)![it.split as SplitName]++;
  });
  const counts = m.counts as Record<string, Record<string, unknown>>;
  for (const [c, want] of counted) {
    for (const s of SPLITS) {
      check(counts[c]?.[s] === want[s], `counts.${c}.${s} is ${String(counts[c]?.[s])} but ${want[s]} items are listed`);
    }
  }
  const manifest = json as SplitManifest;
  manifest.root = resolve(dirname(abs), manifest.root);
  return { manifest, sha256: sha256Hex(bytes) };
}

/**
 * Checks that every item's file still exists with the bytes it had when the split was made.
 * Throws a UserError naming the first offending files and the fix.
 */
export async function verifyManifestFiles(manifest: SplitManifest, concurrency = 4): Promise<void> {
  const problems: string[] = [];
  let next = 0;
  const items = manifest.items;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        const bytes = await readFile(manifestItemPath(manifest, item));
        if (sha256Hex(bytes) !== item.fileSha256) problems.push(`${item.path} changed`);
      } catch {
        problems.push(`${item.path} is missing`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  if (problems.length > 0) {
    problems.sort();
    const shown = problems.slice(0, 3).join(', ');
    const more = problems.length > 3 ? ` and ${problems.length - 3} more` : '';
    throw new UserError(
      `${problems.length} data file(s) under ${manifest.root} differ from the split manifest (${shown}${more}); re-run plastisort data split`,
    );
  }
}

/** Is `path` a split manifest (by its schema)? For deciding whether data split may replace it. */
export function isManifestFile(path: string): boolean {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { schema?: unknown }).schema === MANIFEST_SCHEMA;
  } catch {
    return false;
  }
}

/**
 * The manifest and its photo folder, read cheaply before any work so an output folder can be checked
 * against them; an unreadable manifest gives just its own path (readManifest reports it later).
 */
export function manifestInputs(path: string | undefined): string[] {
  if (!path) return [];
  try {
    const root = (JSON.parse(readFileSync(path, 'utf8')) as { root?: unknown }).root;
    return typeof root === 'string' && root ? [path, resolve(dirname(resolve(path)), root)] : [path];
  } catch {
    return [path];
  }
}
