/**
 * hil checks --run before the device session (its desktop float pass comes after every image was
 * streamed), and warns in one line when --run is not the run the model was quantized from.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../host/util/exit-codes.ts';
import { plastisort, tinyPhotos, tinyRun } from '../cli/tiny-project.ts';
import { simBinary } from '../serial/fixtures.ts';

const sim = simBinary();
let dir: string;

const hil = (out: string, model: string, run: string, ...more: string[]) =>
  plastisort(dir, 'hil', '--sim', '--model', model, '--manifest', 'split.json', '--split', 'val', '--out', out, '--run', run, ...more);
const nonEmpty = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'plastisort-hil-run-'));
  tinyPhotos(dir);
  await tinyRun(join(dir, 'run'), join(dir, 'split.json'));
  const q = plastisort(dir, 'quantize', 'run', '--out', 'S/m.tflite', '--calib', '4', '--val', '0', '--no-measure-offset');
  expect(q.code, q.stderr).toBe(0);
  // The same model without its quantize report: only its metadata names the source run.
  cpSync(join(dir, 'S', 'm.tflite'), join(dir, 'lone.tflite'));
  // A run of another id, and one over other classes.
  cpSync(join(dir, 'run'), join(dir, 'run2'), { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'run', 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'run2', 'config.json'), JSON.stringify({ ...config, runId: 'run2' }));
  cpSync(join(dir, 'run'), join(dir, 'run-cups'), { recursive: true });
  writeFileSync(join(dir, 'run-cups', 'config.json'), JSON.stringify({ ...config, classes: ['cup', 'mug'] }));
  writeFileSync(join(dir, 'README.md'), '# my project\n');
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!sim)('hil --run', () => {
  it('refuses a folder that is not a run before the report folder is made or the device contacted', () => {
    const r = hil('h-photos', 'S/m.tflite', 'photos');
    expect(r.code, r.stderr).toBe(EXIT.input);
    expect(nonEmpty(r.stderr)).toEqual([
      'plastisort: --run photos: not a run folder (no config.json); give the run folder the model was quantized from (written by plastisort train or finetune), or leave --run out',
    ]);
    expect(existsSync(join(dir, 'h-photos'))).toBe(false);
  });

  it('refuses a file', () => {
    const r = hil('h-file', 'S/m.tflite', 'README.md');
    expect(r.code, r.stderr).toBe(EXIT.input);
    expect(nonEmpty(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^plastisort: --run README\.md is a file; give the run folder/);
    expect(existsSync(join(dir, 'h-file'))).toBe(false);
  });

  it('refuses a run over other classes before any image is streamed', () => {
    const r = hil('h-cups', 'S/m.tflite', 'run-cups');
    expect(r.code, r.stderr).toBe(EXIT.input);
    expect(nonEmpty(r.stderr)).toEqual(["plastisort: --run run-cups: its classes [cup, mug] differ from the model's [cup, straw]; pass the run the model was quantized from"]);
    // No journal: the device session never started.
    expect(existsSync(join(dir, 'h-cups', 'journal.jsonl'))).toBe(false);
  });

  it('warns in one line when --run is not the run the quantize report names', () => {
    const r = hil('h-other', 'S/m.tflite', 'run2', '--no-references');
    expect(r.code, r.stderr).toBe(0);
    const warnings = nonEmpty(r.stderr).filter((l) => l.startsWith('warning:'));
    expect(warnings).toEqual([
      `warning: hil: --run run2 is not the run S/m.tflite was quantized from (${join(dir, 'run')}, per m.quantize.json); its desktop float figures describe another model than the one on the device`,
    ]);
  });

  it('without the report, warns when the metadata\'s run id differs', () => {
    const r = hil('h-lone', 'lone.tflite', 'run2', '--no-references');
    expect(r.code, r.stderr).toBe(0);
    expect(nonEmpty(r.stderr).filter((l) => l.startsWith('warning:'))).toEqual([
      'warning: hil: --run run2 (run run2) is not the run lone.tflite was quantized from (run tiny, per its metadata); its desktop float figures describe another model than the one on the device',
    ]);
  });

  it('says nothing for the run the model was quantized from, and scores it', () => {
    const r = hil('h-own', 'S/m.tflite', 'run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/warning:/);
    const report = JSON.parse(readFileSync(join(dir, 'h-own', 'hil-report.json'), 'utf8')) as { metrics: Record<string, unknown> };
    expect(Object.keys(report.metrics)).toContain('float');
  });
});
