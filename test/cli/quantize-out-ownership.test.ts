/**
 * quantize replaces only the file it wrote: `--out S/w` and `--out S/w.tflite` share the report name
 * `S/w.quantize.json`, so the report must name the exact file (and its SHA-256) it describes, and one
 * output's report is never replaced by another's.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../host/util/exit-codes.ts';
import { errorLines, plastisort, tinyPhotos, tinyRun } from './tiny-project.ts';

let dir: string;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const quantize = (out: string) => plastisort(dir, 'quantize', 'run', '--out', out, '--calib', '4', '--val', '0', '--no-measure-offset');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'plastisort-q-own-'));
  tinyPhotos(dir);
  await tinyRun(join(dir, 'run'), join(dir, 'split.json'));
  mkdirSync(join(dir, 'S'));
  const r = quantize('S/w.tflite');
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('quantize --out ownership', () => {
  it('refuses a file of the user\'s that shares its report name with a .tflite quantize wrote', () => {
    writeFileSync(join(dir, 'S', 'w'), 'IMPORTANT\n');
    const report = sha(join(dir, 'S', 'w.quantize.json'));
    const r = quantize('S/w');
    expect(r.code, r.stderr).toBe(EXIT.input);
    expect(errorLines(r.stderr)).toEqual(['plastisort: --out S/w exists and plastisort quantize did not write it; choose another name or move it away yourself (nothing was written)']);
    expect(readFileSync(join(dir, 'S', 'w'), 'utf8')).toBe('IMPORTANT\n');
    expect(sha(join(dir, 'S', 'w.quantize.json'))).toBe(report);
  });

  it('refuses a new --out whose report would replace another output\'s report', () => {
    rmSync(join(dir, 'S', 'w'));
    const report = sha(join(dir, 'S', 'w.quantize.json'));
    const r = quantize('S/w');
    expect(r.code, r.stderr).toBe(EXIT.input);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(errorLines(r.stderr)[0]).toMatch(/--out S\/w: its report would replace .*w\.quantize\.json, which is the report of w\.tflite; choose another --out name/);
    expect(sha(join(dir, 'S', 'w.quantize.json'))).toBe(report);
  });

  it('refuses a .tflite whose bytes are no longer the ones its report records', () => {
    const tflite = join(dir, 'S', 'w.tflite');
    const original = readFileSync(tflite);
    writeFileSync(tflite, 'my own model, same name\n');
    const r = quantize('S/w.tflite');
    expect(r.code, r.stderr).toBe(EXIT.input);
    expect(errorLines(r.stderr)[0]).toMatch(/--out S\/w\.tflite exists and plastisort quantize did not write it/);
    expect(readFileSync(tflite, 'utf8')).toBe('my own model, same name\n');
    writeFileSync(tflite, original);
  });

  it('replaces its own .tflite and report, which record the file\'s name and SHA-256', () => {
    const r = quantize('S/w.tflite');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'S', 'w.quantize.json'), 'utf8')) as { output: string; outputSha256: string };
    expect(report.output).toBe(join(dir, 'S', 'w.tflite'));
    expect(report.outputSha256).toBe(sha(join(dir, 'S', 'w.tflite')));
  });

  it('trusts a report from before outputSha256 on the exact file name alone', () => {
    const path = join(dir, 'S', 'w.quantize.json');
    const report = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    delete report.outputSha256;
    writeFileSync(path, JSON.stringify(report));
    const r = quantize('S/w.tflite');
    expect(r.code, r.stderr).toBe(0);
  });
});
