import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile, cp, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { createRng } from '../../host/util/rng.ts';
import { assignGroups, splitDataset, splitTargets } from '../../host/data/split.ts';
import { sanitizeClassName } from '../../host/data/class-folders.ts';
import { readManifest, serializeManifest, verifyManifestFiles, writeManifest } from '../../host/data/manifest-io.ts';
import { crossSplitDuplicates } from './helpers.ts';
import { UserError } from '../../host/util/errors.ts';
import type { SplitManifest } from '../../host/data/manifest.ts';

let tmp = '';

/** A 2×2 24-bit Windows bitmap (BITMAPINFOHEADER), a format this sharp build does not decode. */
function bmp2x2(): Buffer {
  const rowBytes = 8; // 2 pixels × 3 bytes, padded to 4
  const b = Buffer.alloc(54 + rowBytes * 2);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(2, 18);
  b.writeInt32LE(2, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  b.writeUInt32LE(rowBytes * 2, 34);
  b.fill(0x80, 54);
  return b;
}

/** A smooth random image: an 6×6 grid of random colours upscaled, so every seed gives a distinct dHash. */
async function blob(seed: number, size = 64): Promise<Sharp> {
  const rng = createRng(seed);
  const px = Buffer.alloc(6 * 6 * 3);
  for (let i = 0; i < px.length; i++) px[i] = Math.floor(rng() * 256);
  const up = await sharp(px, { raw: { width: 6, height: 6, channels: 3 } }).resize(size, size, { kernel: 'cubic' }).png().toBuffer();
  return sharp(up);
}

async function writeBlob(path: string, seed: number, format: 'png' | 'jpeg' = 'png', size = 64): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const img = await blob(seed, size);
  await (format === 'png' ? img.png() : img.jpeg({ quality: 92 })).toFile(path);
}

function itemsByPath(m: SplitManifest) {
  return new Map(m.items.map((i) => [i.path, i]));
}

const quiet = { progress: false } as const;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'plastisort-split-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function makeBase(dir: string, perClass: Record<string, number>, seedBase = 1000): Promise<void> {
  let s = seedBase;
  for (const [cls, n] of Object.entries(perClass)) {
    for (let i = 0; i < n; i++) await writeBlob(join(dir, cls, `img_${String(i).padStart(3, '0')}.png`), s++);
  }
}

describe('data split: duplicates', () => {
  let dir = '';
  let m: SplitManifest;
  beforeAll(async () => {
    dir = join(tmp, 'dups');
    await makeBase(dir, { cup: 20, straw: 20, bag: 20 });
    // Exact copy (same bytes), a lossless re-save (same pixels, other bytes), a JPEG re-encode and a
    // slightly resized copy of cup/img_000.
    const src = join(dir, 'cup', 'img_000.png');
    await copyFile(src, join(dir, 'cup', 'copy_exact.png'));
    await sharp(src).png({ compressionLevel: 0 }).toFile(join(dir, 'cup', 'copy_resaved.png'));
    await sharp(src).jpeg({ quality: 60 }).toFile(join(dir, 'cup', 'copy_q60.jpg'));
    await sharp(src).resize(58, 58).png().toFile(join(dir, 'cup', 'copy_small.png'));
    // A copy of straw/img_001 filed under bag: a label conflict.
    await sharp(join(dir, 'straw', 'img_001.png')).jpeg({ quality: 90 }).toFile(join(dir, 'bag', 'stray.jpg'));
    // Not images.
    await writeFile(join(dir, 'straw', 'notes.txt'), 'hello');
    await writeFile(join(dir, 'straw', 'broken.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
    await writeFile(join(dir, 'straw', 'scan.bmp'), bmp2x2());
    m = (await splitDataset({ data: dir, seed: 5, ...quiet })).manifest;
  });

  it('puts exact, re-encoded and resized copies in one group and one split', () => {
    const byPath = itemsByPath(m);
    const names = ['img_000.png', 'copy_exact.png', 'copy_resaved.png', 'copy_q60.jpg', 'copy_small.png'].map((f) => `cup/${f}`);
    const items = names.map((p) => byPath.get(p)!);
    expect(items.every((i) => i !== undefined)).toBe(true);
    expect(new Set(items.map((i) => i.group)).size).toBe(1);
    expect(new Set(items.map((i) => i.split)).size).toBe(1);
    expect(items[0]!.sha256).toBe(items[1]!.sha256);
    expect(items[0]!.sha256).toBe(items[2]!.sha256);
    expect(items[0]!.fileSha256).not.toBe(items[2]!.fileSha256);
    expect(items[0]!.sha256).not.toBe(items[3]!.sha256);
    // The other images stay singletons.
    const groupSizes = new Map<number, number>();
    for (const i of m.items) groupSizes.set(i.group, (groupSizes.get(i.group) ?? 0) + 1);
    expect([...groupSizes.values()].filter((n) => n > 1)).toEqual([5]);
    expect(m.duplicateGroups).toBe(2); // the cup copies and the cross-class pair
  });

  it('reports and drops a cross-class duplicate by default', () => {
    expect(m.conflicts).toHaveLength(1);
    const c = m.conflicts[0]!;
    expect(c.resolution).toBe('dropped');
    expect(c.members).toEqual({ bag: ['bag/stray.jpg'], straw: ['straw/img_001.png'] });
    const byPath = itemsByPath(m);
    expect(byPath.has('bag/stray.jpg')).toBe(false);
    expect(byPath.has('straw/img_001.png')).toBe(false);
    const droppedPaths = m.dropped.map((d) => d.path);
    expect(droppedPaths).toContain('bag/stray.jpg');
    expect(droppedPaths).toContain('straw/img_001.png');
  });

  it('skips and reports unreadable and non-image files', () => {
    const reasons = new Map(m.dropped.map((d) => [d.path, d.reason]));
    expect(reasons.get('straw/notes.txt')).toMatch(/not an image/);
    expect(reasons.get('straw/broken.png')).toBeDefined();
    expect(reasons.get('straw/scan.bmp')).toBe('BMP is not supported; convert it to PNG or JPEG');
    expect(itemsByPath(m).has('straw/broken.png')).toBe(false);
    expect(m.counts.straw!.train + m.counts.straw!.val + m.counts.straw!.test).toBe(19);
  });

  it('keeps the majority label with keepMajority', async () => {
    // Two straw copies against one bag copy: straw wins.
    await sharp(join(dir, 'straw', 'img_001.png')).png({ compressionLevel: 1 }).toFile(join(dir, 'straw', 'img_001_again.png'));
    try {
      const k = (await splitDataset({ data: dir, seed: 5, keepMajority: true, ...quiet })).manifest;
      expect(k.conflicts).toHaveLength(1);
      expect(k.conflicts[0]!.resolution).toBe('majority');
      expect(k.conflicts[0]!.keptClass).toBe('straw');
      const byPath = itemsByPath(k);
      expect(byPath.get('straw/img_001.png')!.class).toBe('straw');
      expect(byPath.get('straw/img_001_again.png')!.split).toBe(byPath.get('straw/img_001.png')!.split);
      expect(byPath.has('bag/stray.jpg')).toBe(false);
      expect(k.dropped.find((d) => d.path === 'bag/stray.jpg')!.reason).toMatch(/kept as straw/);
    } finally {
      await rm(join(dir, 'straw', 'img_001_again.png'));
    }
  });
});

describe('data split: determinism and stratification', () => {
  it('gives byte-identical manifests for two runs and for a copy of the data elsewhere', async () => {
    const a = join(tmp, 'detA');
    await makeBase(join(a, 'data'), { alpha: 13, beta: 9, gamma: 17 }, 2000);
    const b = join(tmp, 'detB', 'nested');
    await cp(join(a, 'data'), join(b, 'data'), { recursive: true });
    const r1 = (await splitDataset({ data: join(a, 'data'), seed: 9, ...quiet })).manifest;
    const r2 = (await splitDataset({ data: join(a, 'data'), seed: 9, ...quiet })).manifest;
    const r3 = (await splitDataset({ data: join(b, 'data'), seed: 9, ...quiet })).manifest;
    await writeManifest(join(a, 'one.json'), r1);
    await writeManifest(join(a, 'two.json'), r2);
    await writeManifest(join(b, 'three.json'), r3);
    const one = await readFile(join(a, 'one.json'));
    expect(one.equals(await readFile(join(a, 'two.json')))).toBe(true);
    expect(one.equals(await readFile(join(b, 'three.json')))).toBe(true);
    const other = (await splitDataset({ data: join(a, 'data'), seed: 10, ...quiet })).manifest;
    expect(serializeManifest(join(a, 'x.json'), other)).not.toBe(one.toString());
  });

  it('is within ±1 item per class of the requested ratios', async () => {
    const dir = join(tmp, 'strat');
    const sizes = { a: 23, b: 10, c: 31, d: 7 };
    await makeBase(dir, sizes, 3000);
    for (const ratios of [
      [70, 15, 15],
      [80, 10, 10],
      [60, 20, 20],
      [50, 50, 0],
    ] as Array<[number, number, number]>) {
      const m = (await splitDataset({ data: dir, ratios, seed: 2, ...quiet })).manifest;
      for (const [cls, n] of Object.entries(sizes)) {
        const k = m.counts[cls]!;
        expect(k.train + k.val + k.test).toBe(n);
        expect(Math.abs(k.train - (n * ratios[0]) / 100)).toBeLessThanOrEqual(1);
        expect(Math.abs(k.val - (n * ratios[1]) / 100)).toBeLessThanOrEqual(1);
        expect(Math.abs(k.test - (n * ratios[2]) / 100)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('splitTargets distributes remainders and sums to n', () => {
    for (let n = 0; n < 40; n++) {
      const t = splitTargets(n, [70, 15, 15]);
      expect(t[0] + t[1] + t[2]).toBe(n);
      t.forEach((v, i) => expect(Math.abs(v - (n * [70, 15, 15][i]!) / 100)).toBeLessThan(1));
    }
  });
});

describe('data split: layout and bad input', () => {
  it('reads the Kaggle layout into the source field and selects/orders classes', async () => {
    const dir = join(tmp, 'kaggle');
    let s = 4000;
    for (const cls of ['plastic_straws', 'plastic_cup_lids']) {
      for (const src of ['default', 'real_world']) {
        for (let i = 0; i < 3; i++) await writeBlob(join(dir, cls, src, `Image_${i + 1}.png`), s++);
      }
    }
    await writeBlob(join(dir, 'plastic_straws', 'real_world', 'deep', 'er', 'x.png'), s++);
    const m = (await splitDataset({ data: dir, classes: ['plastic_straws', 'plastic_cup_lids'], ...quiet })).manifest;
    expect(m.classes).toEqual(['plastic_straws', 'plastic_cup_lids']);
    const byPath = itemsByPath(m);
    expect(byPath.get('plastic_straws/default/Image_1.png')!.source).toBe('default');
    expect(byPath.get('plastic_cup_lids/real_world/Image_2.png')!.source).toBe('real_world');
    expect(byPath.get('plastic_straws/real_world/deep/er/x.png')!.label).toBe(0);
    expect(m.items).toHaveLength(13);
  });

  it('rejects a missing folder, bad class names, clashing names and bad ratios with one-line UserErrors', async () => {
    await expect(splitDataset({ data: join(tmp, 'nope'), ...quiet })).rejects.toThrow(/--data .*nope: folder not found/);
    await writeFile(join(tmp, 'afile.txt'), 'x');
    await expect(splitDataset({ data: join(tmp, 'afile.txt'), ...quiet })).rejects.toThrow(/is a file, not a folder/);
    await mkdir(join(tmp, 'noclasses'), { recursive: true });
    await expect(splitDataset({ data: join(tmp, 'noclasses'), ...quiet })).rejects.toThrow(/no class folders inside/);
    const bad = join(tmp, 'badname');
    await makeBase(bad, { '1st_class': 1, ok: 1 }, 5000);
    await expect(splitDataset({ data: bad, ...quiet })).rejects.toThrow(/class folder ".*1st_class".*starts with a digit.*rename/);
    const clash = join(tmp, 'clash');
    await makeBase(clash, { 'Milk Jug': 1, 'milk-jug': 1 }, 5100);
    await expect(splitDataset({ data: clash, ...quiet })).rejects.toThrow(/both become the label "milk_jug"/);
    const kw = join(tmp, 'kw');
    await makeBase(kw, { int: 1, ok: 1 }, 5200);
    await expect(splitDataset({ data: kw, ...quiet })).rejects.toThrow(UserError);
    const ok = join(tmp, 'ok');
    await makeBase(ok, { a: 2, b: 2 }, 5300);
    await expect(splitDataset({ data: ok, ratios: [70, 20, 20], ...quiet })).rejects.toThrow(/sums to 110, not 100/);
    await expect(splitDataset({ data: ok, ratios: [100, 0, 0], ...quiet })).rejects.toThrow(/leaves no validation split, which train and finetune need/);
    await expect(splitDataset({ data: ok, ratios: [85, 0, 15], ...quiet })).rejects.toThrow(/leaves no validation split/);
    await expect(splitDataset({ data: ok, classes: ['a', 'zzz'], ...quiet })).rejects.toThrow(/no class folder "zzz"/);
    expect(sanitizeClassName('Plastic Soda-Bottles ')).toBe('plastic_soda_bottles');
  });

  it('reports a class left empty (only unreadable files)', async () => {
    const dir = join(tmp, 'emptyclass');
    await makeBase(dir, { a: 3, b: 3 }, 6000);
    await mkdir(join(dir, 'c'), { recursive: true });
    await writeFile(join(dir, 'c', 'bad.jpg'), 'garbage');
    const r = await splitDataset({ data: dir, ...quiet });
    expect(r.emptyClasses).toEqual(['c']);
    expect(r.manifest.dropped).toEqual([{ path: 'c/bad.jpg', reason: expect.stringMatching(/not an image/) }]);
  });
});

describe('manifest IO', () => {
  it('round-trips, resolves root, validates and detects changed or missing files', async () => {
    const dir = join(tmp, 'io');
    await makeBase(join(dir, 'data'), { a: 4, b: 4 }, 7000);
    const m = (await splitDataset({ data: join(dir, 'data'), ...quiet })).manifest;
    const path = join(dir, 'out', 'split.json');
    await writeManifest(path, m);
    const onDisk = JSON.parse(await readFile(path, 'utf8'));
    expect(onDisk.root).toBe('../data');
    const { manifest, sha256 } = await readManifest(path);
    expect(manifest.root).toBe(join(dir, 'data'));
    expect(manifest.items).toEqual(m.items);
    expect(sha256).toMatch(/^[0-9a-f]{64}$/);
    await verifyManifestFiles(manifest);

    await writeBlob(join(dir, 'data', 'a', 'img_001.png'), 99999);
    await rm(join(dir, 'data', 'b', 'img_002.png'));
    const err = await verifyManifestFiles(manifest).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/a\/img_001\.png changed/);
    expect(err.message).toMatch(/b\/img_002\.png is missing/);
    expect(err.message).toMatch(/re-run plastisort data split/);

    const broken = { ...onDisk, items: [{ ...onDisk.items[0], label: 5 }] };
    await writeFile(join(dir, 'bad.json'), JSON.stringify(broken));
    await expect(readManifest(join(dir, 'bad.json'))).rejects.toThrow(/not a valid split manifest/);
    await writeFile(join(dir, 'notjson.json'), '{');
    await expect(readManifest(join(dir, 'notjson.json'))).rejects.toThrow(/not valid JSON/);
    await expect(readManifest(join(dir, 'missing.json'))).rejects.toThrow(/cannot read the split manifest/);
  });
});

describe('data split: false near duplicates', () => {
  it('does not merge different products shot on the same white background', async () => {
    const dir = join(tmp, 'studio');
    const shot = (fill: string, cap: string) =>
      Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240"><rect width="240" height="240" fill="#fff"/>` +
          `<rect x="100" y="60" width="40" height="140" rx="8" fill="${fill}"/><rect x="108" y="44" width="24" height="18" fill="${cap}"/></svg>`,
      );
    await mkdir(join(dir, 'a'), { recursive: true });
    await mkdir(join(dir, 'b'), { recursive: true });
    await sharp(shot('#7b3fd0', '#202020')).jpeg({ quality: 90 }).toFile(join(dir, 'a', 'purple.jpg'));
    await sharp(shot('#2aa08a', '#e0e0e0')).jpeg({ quality: 90 }).toFile(join(dir, 'b', 'teal.jpg'));
    await sharp(shot('#7b3fd0', '#202020')).jpeg({ quality: 50 }).toFile(join(dir, 'a', 'purple_q50.jpg'));
    const m = (await splitDataset({ data: dir, ...quiet })).manifest;
    const byPath = itemsByPath(m);
    expect(m.conflicts).toEqual([]);
    expect(byPath.get('a/purple.jpg')!.group).toBe(byPath.get('a/purple_q50.jpg')!.group);
    expect(byPath.get('a/purple.jpg')!.group).not.toBe(byPath.get('b/teal.jpg')!.group);
  });
});

describe('data split: no leakage across splits', () => {
  it('no exact or near-duplicate pair spans two splits (pairwise check)', async () => {
    const dir = join(tmp, 'leak');
    await makeBase(dir, { a: 15, b: 15 }, 8000);
    for (let i = 0; i < 6; i++) {
      await sharp(join(dir, 'a', `img_00${i}.png`)).jpeg({ quality: 70 + i }).toFile(join(dir, 'a', `re_${i}.jpg`));
      await sharp(join(dir, 'b', `img_00${i}.png`)).resize(60, 60).png().toFile(join(dir, 'b', `rs_${i}.png`));
    }
    const m = (await splitDataset({ data: dir, seed: 3, ...quiet })).manifest;
    expect(m.items).toHaveLength(42);
    expect((await crossSplitDuplicates(m)).leaks).toEqual([]);
  });
});

describe('data split: symbolic links', () => {
  it('skips a link from a class folder back to the data root instead of filing other classes under it', async () => {
    const dir = join(tmp, 'rootloop');
    await makeBase(dir, { a: 10, b: 10, c: 10 }, 9000);
    const plain = (await splitDataset({ data: dir, seed: 2, ...quiet })).manifest;
    await symlink('..', join(dir, 'a', 'loop'));
    const looped = (await splitDataset({ data: dir, seed: 2, ...quiet })).manifest;
    expect(looped.items.map((i) => i.path)).toEqual(plain.items.map((i) => i.path));
    expect(looped.counts).toEqual(plain.counts);
    expect(looped.conflicts).toEqual([]);
  });
});

describe('data split: duplicate groups', () => {
  it('spreads groups of copies over the splits in proportion, not all into train', () => {
    // 12 products with two copies each among 96 single photos of one class, as in the Kaggle set's
    // default/ and real_world/ folders.
    const groups = [
      ...Array.from({ length: 12 }, (_, i) => ({ key: `pair-${i}`, size: 2 })),
      ...Array.from({ length: 96 }, (_, i) => ({ key: `one-${i}`, size: 1 })),
    ];
    for (const seed of [1, 2, 3]) {
      const placed = assignGroups(groups, [70, 15, 15], seed);
      const pairsIn = (split: string) => [...placed].filter(([k, s]) => k.startsWith('pair-') && s === split).length;
      expect(pairsIn('val'), `seed ${seed}`).toBeGreaterThanOrEqual(1);
      expect(pairsIn('test'), `seed ${seed}`).toBeGreaterThanOrEqual(1);
      expect(pairsIn('train'), `seed ${seed}`).toBeGreaterThanOrEqual(6);
      const size = (split: string) => groups.filter((g) => placed.get(g.key) === split).reduce((a, g) => a + g.size, 0);
      expect([size('train'), size('val'), size('test')]).toEqual(splitTargets(120, [70, 15, 15]));
    }
  });
});
