import { describe, expect, it, afterAll } from 'vitest';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { generateSynthDataset } from '../../host/data/synth.ts';
import { SYNTH_CLASSES } from '../../host/data/synth-scene.ts';
import { UserError } from '../../host/util/errors.ts';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'plastisort-synth-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function digestTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const cls of (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory())) {
    for (const f of await readdir(join(dir, cls.name))) {
      out.set(`${cls.name}/${f}`, createHash('sha256').update(await readFile(join(dir, cls.name, f))).digest('hex'));
    }
  }
  return out;
}

describe('data synth', () => {
  it('writes one folder per class with the requested count and size, byte-identical for the same seed', async () => {
    const a = join(await tmp(), 'a');
    const b = join(await tmp(), 'b');
    const r = await generateSynthDataset({ out: a, perClass: 4, size: 64, seed: 3, progress: false });
    await generateSynthDataset({ out: b, perClass: 4, size: 64, seed: 3, progress: false });
    expect(r.files).toBe(SYNTH_CLASSES.length * 4);
    const folders = (await readdir(a, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    expect(folders.sort()).toEqual([...SYNTH_CLASSES].sort());
    const da = await digestTree(a);
    const db = await digestTree(b);
    expect(da.size).toBe(24);
    expect([...da.entries()]).toEqual([...db.entries()]);
    // Every image is distinct.
    expect(new Set(da.values()).size).toBe(24);
    const meta = await sharp(join(a, 'cup', 'cup_0000.png')).metadata();
    expect([meta.width, meta.height, meta.format, meta.channels]).toEqual([64, 64, 'png', 3]);
  });

  it('a different seed gives different images; a class subset gives the same files for kept classes', async () => {
    const a = join(await tmp(), 'a');
    const c = join(await tmp(), 'c');
    const d = join(await tmp(), 'd');
    await generateSynthDataset({ out: a, perClass: 3, size: 48, seed: 3, progress: false });
    await generateSynthDataset({ out: c, perClass: 3, size: 48, seed: 4, progress: false });
    await generateSynthDataset({ out: d, perClass: 2, size: 48, seed: 3, classes: ['straw', 'cup'], progress: false });
    const da = await digestTree(a);
    const dc = await digestTree(c);
    const dd = await digestTree(d);
    expect(da.get('cup/cup_0000.png')).not.toBe(dc.get('cup/cup_0000.png'));
    expect(dd.size).toBe(4);
    for (const [k, v] of dd) expect(da.get(k)).toBe(v);
  });

  it('rejects unknown classes and out-of-range counts with UserErrors', async () => {
    const out = join(await tmp(), 'x');
    await expect(generateSynthDataset({ out, classes: ['cupx'], progress: false })).rejects.toThrow(UserError);
    await expect(generateSynthDataset({ out, perClass: 0, progress: false })).rejects.toThrow(/--per-class/);
  });
});
