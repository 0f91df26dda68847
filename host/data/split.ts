/**
 * `plastisort data split`: import a folder of class folders, group exact and near duplicates, resolve
 * label conflicts and split stratified by class at the duplicate-group level, so no image (or copy
 * of it) sits on both sides of a split. The result depends only on the files' contents, their paths
 * relative to the data folder, the options and the seed — not on listing order or the machine.
 */
import { createHash } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { progressBar } from '../util/progress.ts';
import { SPLITS, type DroppedFile, type LabelConflict, type ManifestItem, type SplitManifest, type SplitName } from './manifest.ts';
import { MANIFEST_SCHEMA } from './manifest-io.ts';
import { nearPairs, thumbDistance, THUMB_P97_MAX, toHex, UnionFind, type PhashBits } from './dedup.ts';
import { byCodepoint, findClasses, walkFiles } from './class-folders.ts';
import { fingerprintImage, type Fingerprint } from './fingerprint.ts';

export interface SplitOptions {
  /** Folder holding one folder per class. */
  data: string;
  /** Class folder names (or their sanitised names) to use, in label order; default all, sorted. */
  classes?: readonly string[];
  /** Percentages for train, val, test; integers summing to 100. */
  ratios?: readonly [number, number, number];
  seed?: number;
  phashBits?: PhashBits;
  maxHamming?: number;
  /** Keep the majority class of a label-conflict group instead of dropping the whole group. */
  keepMajority?: boolean;
  /** Images decoded at once. */
  concurrency?: number;
  progress?: boolean;
}

export const DEFAULT_RATIOS: readonly [number, number, number] = [70, 15, 15];
export const DEFAULT_PHASH_BITS: PhashBits = 256;
export const DEFAULT_MAX_HAMMING = 10;

export function parseRatios(text: string): [number, number, number] {
  const parts = text.split(',').map((s) => s.trim());
  const nums = parts.map(Number);
  if (parts.length !== 3 || nums.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new UserError(`--ratios "${text}": give three whole percentages for train,val,test, e.g. --ratios 70,15,15`);
  }
  return checkRatios(nums as [number, number, number], text);
}

function checkRatios(r: readonly [number, number, number], text = r.join(',')): [number, number, number] {
  const sum = r[0] + r[1] + r[2];
  if (r.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new UserError(`--ratios "${text}": give three whole percentages for train,val,test, e.g. --ratios 70,15,15`);
  }
  if (sum !== 100) throw new UserError(`--ratios "${text}" sums to ${sum}, not 100; e.g. --ratios 70,15,15`);
  if (r[0] === 0) throw new UserError(`--ratios "${text}" leaves nothing to train on; give train a share, e.g. --ratios 70,15,15`);
  // Refused here rather than by the stage that needs the split, after the photos were read.
  if (r[1] === 0) throw new UserError(`--ratios "${text}" leaves no validation split, which train and finetune need to pick their epoch; give val a share, e.g. --ratios 70,15,15`);
  // A final model trained on more of the data is a use of its own, so only said.
  if (r[2] === 0) log.warn(`--ratios "${text}" leaves no test split: evaluate and hil can score val only, and the pipeline needs a test split`);
  return [r[0], r[1], r[2]];
}

interface Decoded {
  /** Relative to the data root, '/' separators. */
  path: string;
  classIndex: number;
  source: string;
  sha256: string;
  fileSha256: string;
  phash: Uint8Array;
  thumb: Uint8Array;
  width: number;
  height: number;
}

/** Seeded ordering key for a group: a hash, so the order does not follow paths or listing order. */
function shuffleKey(seed: number, groupKey: string): string {
  return createHash('sha256').update(`${seed}\n${groupKey}`).digest('hex');
}

/** Per-split targets for n items: floor of n·ratio, the remainder by largest fraction (ties: train, val, test). */
export function splitTargets(n: number, ratios: readonly [number, number, number]): [number, number, number] {
  const exact = ratios.map((r) => (n * r) / 100);
  const t = exact.map(Math.floor) as [number, number, number];
  let rest = n - (t[0] + t[1] + t[2]);
  const order = [0, 1, 2].sort((a, b) => exact[b]! - t[b]! - (exact[a]! - t[a]!) || a - b);
  for (const i of order) {
    if (rest <= 0) break;
    if (ratios[i]! > 0) {
      t[i]!++;
      rest--;
    }
  }
  return t;
}

/**
 * Assigns groups (of one class) to splits: largest groups first, equal sizes in seeded order, each to
 * the split furthest below its target relative to that target. Singletons come last and fill the targets exactly, so a class
 * is within ±1 of its targets whenever the big groups fit.
 */
export function assignGroups(
  groups: ReadonlyArray<{ key: string; size: number }>,
  ratios: readonly [number, number, number],
  seed: number,
): Map<string, SplitName> {
  const n = groups.reduce((a, g) => a + g.size, 0);
  const target = splitTargets(n, ratios);
  const filled = [0, 0, 0];
  const order = groups
    .map((g) => ({ ...g, shuffle: shuffleKey(seed, g.key) }))
    .sort((a, b) => b.size - a.size || byCodepoint(a.shuffle, b.shuffle));
  const out = new Map<string, SplitName>();
  for (const g of order) {
    let best = -1;
    let bestDeficit = -Infinity;
    for (let s = 0; s < 3; s++) {
      if (ratios[s] === 0) continue;
      const deficit = target[s]! - filled[s]!;
      // Prefer a split the whole group fits in; among those (or, if none, among all) the one furthest
      // below its target. For groups of copies, relative to the target: an absolute deficit sends every
      // group to train, whose target is the largest, and leaves val and test without any duplicated
      // product. Singletons keep the absolute deficit, so sets without copies split as they always did.
      const fits = deficit >= g.size ? 1e9 : 0;
      const score = fits + (g.size > 1 ? deficit / Math.max(1, target[s]!) : deficit);
      if (score > bestDeficit) {
        bestDeficit = score;
        best = s;
      }
    }
    filled[best]! += g.size;
    out.set(g.key, SPLITS[best]!);
  }
  return out;
}

export interface SplitResult {
  manifest: SplitManifest;
  /** Classes that ended with no items (the CLI exits non-zero). */
  emptyClasses: string[];
}

/**
 * Builds the split manifest. Unreadable files are dropped (and logged), never fatal; a class left
 * with no items is returned in `emptyClasses` for the caller to refuse.
 */
export async function splitDataset(opts: SplitOptions): Promise<SplitResult> {
  const root = resolve(opts.data);
  const ratios = checkRatios(opts.ratios ?? DEFAULT_RATIOS);
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new UserError(`--seed ${seed} is out of range; use a whole number from 0 to 4294967295`);
  }
  const phashBits = opts.phashBits ?? DEFAULT_PHASH_BITS;
  if (phashBits !== 64 && phashBits !== 256) throw new UserError(`--phash-bits ${String(phashBits)}: use 64 or 256`);
  const maxHamming = opts.maxHamming ?? DEFAULT_MAX_HAMMING;
  if (!Number.isInteger(maxHamming) || maxHamming < 0 || maxHamming >= phashBits / 4) {
    throw new UserError(`--max-hamming ${maxHamming}: use a whole number from 0 to ${phashBits / 4 - 1} for ${phashBits}-bit hashes`);
  }
  const classDirs = await findClasses(root, opts.data, opts.classes);

  const files: Array<{ path: string; classIndex: number; source: string }> = [];
  const rootReal = new Set([await realpath(root)]);
  for (const [ci, c] of classDirs.entries()) {
    for (const rel of await walkFiles(join(root, c.folder), '', rootReal)) {
      const slash = rel.indexOf('/');
      files.push({ path: `${c.folder}/${rel}`, classIndex: ci, source: slash < 0 ? '' : rel.slice(0, slash) });
    }
  }
  files.sort((a, b) => byCodepoint(a.path, b.path));

  const dropped: DroppedFile[] = [];
  const decoded: Decoded[] = [];
  const bar = opts.progress === false || files.length === 0 ? null : progressBar('decode', files.length);
  const results = new Array<Fingerprint>(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      results[i] = await fingerprintImage(root, files[i]!.path, phashBits);
      bar?.tick();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 3, files.length)) }, worker));
  bar?.stop();
  files.forEach((f, i) => {
    const r = results[i]!;
    if (r.ok) {
      const { ok: _ok, ...rest } = r;
      decoded.push({ ...f, ...rest });
    } else dropped.push({ path: f.path, reason: r.reason });
  });

  // Group exact (same decoded pixels) and near (dHash within maxHamming) duplicates.
  const uf = new UnionFind(decoded.length);
  const bySha = new Map<string, number>();
  decoded.forEach((d, i) => {
    const first = bySha.get(d.sha256);
    if (first === undefined) bySha.set(d.sha256, i);
    else uf.union(first, i);
  });
  let rejectedNear = 0;
  for (const [i, j] of nearPairs(
    decoded.map((d) => d.phash),
    maxHamming,
  )) {
    // The dHash proposes, the colour thumbnail confirms (see THUMB_P97_MAX).
    const dist = thumbDistance(decoded[i]!.thumb, decoded[j]!.thumb);
    if (process.env.PLASTISORT_DEBUG_DEDUP) log.info(`near pair ${decoded[i]!.path} ~ ${decoded[j]!.path}: thumbnail p97 ${dist}`);
    if (dist <= THUMB_P97_MAX) uf.union(i, j);
    else rejectedNear++;
  }
  if (rejectedNear > 0) log.info(`${rejectedNear} dHash near-duplicate candidate pair(s) rejected by the thumbnail check`);
  // Group ids in order of each group's first member by path: independent of listing order.
  const groupOfRoot = new Map<number, number>();
  const members: number[][] = [];
  decoded.forEach((_, i) => {
    const r = uf.find(i);
    let g = groupOfRoot.get(r);
    if (g === undefined) {
      g = members.length;
      groupOfRoot.set(r, g);
      members.push([]);
    }
    members[g]!.push(i);
  });
  const groupOf = (i: number) => groupOfRoot.get(uf.find(i))!;
  const duplicateGroups = members.filter((m) => m.length > 1).length;

  // Label conflicts: a group whose members carry more than one class.
  const conflicts: LabelConflict[] = [];
  const keep = new Array<boolean>(decoded.length).fill(true);
  members.forEach((m, g) => {
    const classesIn = new Set(m.map((i) => decoded[i]!.classIndex));
    if (classesIn.size < 2) return;
    const byClass: Record<string, string[]> = {};
    const tally = new Map<number, number>();
    for (const i of m) {
      const d = decoded[i]!;
      (byClass[classDirs[d.classIndex]!.name] ??= []).push(d.path);
      tally.set(d.classIndex, (tally.get(d.classIndex) ?? 0) + 1);
    }
    const ranked = [...tally.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const majority = opts.keepMajority && ranked[0]![1] > ranked[1]![1] ? ranked[0]![0] : -1;
    const summary = ranked.map(([c, k]) => `${classDirs[c]!.name}×${k}`).join(', ');
    const conflict: LabelConflict = { group: g, members: byClass, resolution: majority >= 0 ? 'majority' : 'dropped' };
    if (majority >= 0) conflict.keptClass = classDirs[majority]!.name;
    conflicts.push(conflict);
    for (const i of m) {
      if (decoded[i]!.classIndex === majority) continue;
      keep[i] = false;
      const why =
        majority >= 0
          ? `label conflict: duplicate group ${g} (${summary}) kept as ${classDirs[majority]!.name}`
          : `label conflict: duplicate group ${g} spans ${summary}${opts.keepMajority ? ' (no majority)' : ''}`;
      dropped.push({ path: decoded[i]!.path, reason: why });
    }
  });

  // Stratify per class at the group level.
  const splitOfGroup = new Map<number, SplitName>();
  for (let ci = 0; ci < classDirs.length; ci++) {
    const groups: Array<{ key: string; size: number; g: number }> = [];
    members.forEach((m, g) => {
      const kept = m.filter((i) => keep[i] && decoded[i]!.classIndex === ci);
      if (kept.length === 0) return;
      // The group's identity for shuffling: its smallest pixel hash (content, not path or order);
      // unique, since equal pixel hashes are always in one group.
      const key = kept.map((i) => decoded[i]!.sha256).sort(byCodepoint)[0]!;
      groups.push({ key, size: kept.length, g });
    });
    const assigned = assignGroups(groups, ratios, seed);
    for (const grp of groups) splitOfGroup.set(grp.g, assigned.get(grp.key)!);
  }

  const classes = classDirs.map((c) => c.name);
  const counts: Record<string, Record<SplitName, number>> = {};
  for (const c of classes) counts[c] = { train: 0, val: 0, test: 0 };
  const items: ManifestItem[] = [];
  decoded.forEach((d, i) => {
    if (!keep[i]) return;
    const g = groupOf(i);
    const split = splitOfGroup.get(g)!;
    const cls = classes[d.classIndex]!;
    counts[cls]![split]++;
    items.push({
      path: d.path,
      sha256: d.sha256,
      fileSha256: d.fileSha256,
      phash: toHex(d.phash),
      width: d.width,
      height: d.height,
      class: cls,
      label: d.classIndex,
      split,
      source: d.source,
      group: g,
    });
  });
  dropped.sort((a, b) => byCodepoint(a.path, b.path));

  const manifest: SplitManifest = {
    schema: MANIFEST_SCHEMA,
    root,
    classes,
    seed,
    ratios: { train: ratios[0], val: ratios[1], test: ratios[2] },
    dedup: { phashBits, maxHamming },
    items,
    counts,
    dropped,
    conflicts,
    duplicateGroups,
  };
  const emptyClasses = classes.filter((c) => SPLITS.every((s) => counts[c]![s] === 0));
  return { manifest, emptyClasses };
}

/** One-paragraph summary for stderr: counts, duplicates, conflicts, dropped files (each listed). */
export function logSplitSummary(m: SplitManifest): void {
  for (const d of m.dropped) log.warn(`skipped ${d.path}: ${d.reason}`);
  const total = m.items.length;
  const per = SPLITS.map((s) => `${s} ${m.items.filter((i) => i.split === s).length}`).join(', ');
  log.info(
    `${total} images in ${m.classes.length} classes (${per}); ${m.duplicateGroups} duplicate groups; ` +
      `${m.conflicts.length} label conflicts; ${m.dropped.length} files skipped`,
  );
  for (const c of m.classes) {
    const k = m.counts[c]!;
    log.info(`  ${c}: train ${k.train}, val ${k.val}, test ${k.test}`);
    const n = k.train + k.val + k.test;
    if (n > 0 && n < 3) {
      log.warn(`class "${c}" has only ${n} image${n === 1 ? '' : 's'}, too few to appear in train, val and test; add photos (tens per class)`);
    }
  }
}
