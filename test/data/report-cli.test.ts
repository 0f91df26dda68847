import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { generateSynthDataset } from '../../host/data/synth.ts';
import { splitDataset } from '../../host/data/split.ts';
import { buildDataReport } from '../../host/data/data-report.ts';
import { readManifest } from '../../host/data/manifest-io.ts';

let tmp = '';
let data = '';
const fixture = resolve(import.meta.dirname, 'fixtures', 'data-cli.ts');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fixture, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PLASTISORT_QUIET: '1', CI: '1' },
  });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'plastisort-report-'));
  data = join(tmp, 'synth');
  await generateSynthDataset({ out: data, perClass: 10, size: 64, seed: 2, classes: ['cup', 'straw', 'milk_jug'], progress: false });
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('data report', () => {
  it('writes Markdown with the counts table, a size chart and a deterministic contact sheet', async () => {
    const { manifest } = await splitDataset({ data, seed: 4, progress: false });
    const a = await buildDataReport(manifest, join(tmp, 'repA'), { samplesPerClass: 5, tile: 48 });
    const b = await buildDataReport(manifest, join(tmp, 'repB'), { samplesPerClass: 5, tile: 48 });
    const md = await readFile(a.markdown, 'utf8');
    for (const c of manifest.classes) {
      const k = manifest.counts[c]!;
      expect(md).toContain(`| ${c} | ${k.train} | ${k.val} | ${k.test} | 10 |`);
    }
    expect(md).toContain('![Contact sheet](contact-sheet.png)');
    expect(md).toContain('(image-sizes.svg)');
    expect(await readFile(a.sizeChartSvg, 'utf8')).toMatch(/^<svg/);
    const sheet = await sharp(a.contactSheet).metadata();
    expect(sheet.height).toBe(3 * (48 + 4) + 4);
    expect((await readFile(a.contactSheet)).equals(await readFile(b.contactSheet))).toBe(true);
    expect(md).toBe(await readFile(b.markdown, 'utf8'));
  });
});

describe('data CLI', () => {
  it('split writes a manifest and report reads it', () => {
    const out = join(tmp, 'cli', 'split.json');
    const r = cli('data', 'split', '--data', data, '--out', out, '--ratios', '60,20,20');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(existsSync(out)).toBe(true);
    const rep = cli('data', 'report', '--manifest', out, '--out', join(tmp, 'cli', 'report'));
    expect(rep.code).toBe(0);
    expect(existsSync(join(tmp, 'cli', 'report', 'report.md'))).toBe(true);
  });

  it('fails with one line and writes nothing when a class ends up empty or ratios are wrong', async () => {
    const bad = join(tmp, 'bad');
    await mkdir(join(bad, 'a'), { recursive: true });
    await mkdir(join(bad, 'b'), { recursive: true });
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#345' } }).png().toFile(join(bad, 'a', 'x.png'));
    await writeFile(join(bad, 'b', 'y.png'), 'not a png');
    // Beside the photo folder: a command never writes inside its input.
    const out = join(tmp, 'bad-split.json');
    const r = cli('data', 'split', '--data', bad, '--out', out);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    // The skipped file is reported, then the error is a single line.
    expect(lines[0]).toMatch(/^warning: skipped b\/y\.png: not an image/);
    expect(lines.at(-1)).toMatch(/^plastisort: class folder\(s\) "b" .* have no usable images; .*manifest not written/);
    expect(lines.filter((l) => l.startsWith('plastisort:'))).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\s+at /);
    expect(existsSync(out)).toBe(false);
    const q = cli('data', 'split', '--data', bad, '--out', out, '--ratios', '70,20,20');
    expect(q.code).toBe(1);
    expect(q.stderr).toMatch(/^plastisort: --ratios "70,20,20" sums to 110, not 100/);
    await expect(readManifest(out)).rejects.toThrow(/cannot read the split manifest/);
  });
});
