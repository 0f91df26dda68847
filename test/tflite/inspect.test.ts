import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatInspectReport, inspectModel, type InspectReport } from '../../host/tflite/inspect.ts';
import { readTflite, withPlastisortMetadata } from '../../host/tflite/reader.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { UserError } from '../../host/util/errors.ts';
import { int8ChainModel, rng } from './models.ts';

const ROOT = join(import.meta.dirname, '../..');
const PTQ = join(ROOT, '../shared/backbones/mobilenet_v2_1.0_224_imagenet/tflite/tf2_mobilenet_v2_1.0_224_ptq.tflite');

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/tflite/cli-entry.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

/** Everything inspect does with bytes: parse, report, format. Returns the error if one was thrown. */
function inspectBytes(bytes: Uint8Array): unknown {
  try {
    const r = inspectModel(readTflite(bytes, 'fuzz.tflite'), bytes.length);
    JSON.stringify(r);
    formatInspectReport(r);
    return undefined;
  } catch (e) {
    return e;
  }
}

function mutate(base: Uint8Array, r: () => number, hotRegion: number): Uint8Array {
  const kind = r();
  if (kind < 0.3) return base.subarray(0, Math.floor(r() * base.length));
  const b = base.slice();
  const flips = 1 + Math.floor(r() * 8);
  for (let i = 0; i < flips; i++) {
    // Most flips land in the table region (where offsets live) rather than in weight bytes.
    const pos = r() < 0.8 ? Math.floor(r() * Math.min(hotRegion, b.length)) : Math.floor(r() * b.length);
    b[pos] = r() < 0.5 ? b[pos]! ^ (1 << Math.floor(r() * 8)) : Math.floor(r() * 256);
  }
  if (kind > 0.9) return b.subarray(0, Math.floor(r() * b.length));
  return b;
}

describe('inspect', () => {
  it('--json on a generated model reports its ops, tensors, weights, arena and metadata', () => {
    const dir = mkdtempSync(join(tmpdir(), 'plastisort-inspect-'));
    const file = join(dir, 'm.tflite');
    const model = withPlastisortMetadata(int8ChainModel(), {
      schema: 'plastisort.model/1',
      labels: ['a', 'b', 'c', 'd', 'e'],
      inputSize: 8,
      inputContract: 'rgb888_minus_128',
      floatScaling: { scale: 1 / 127.5, offset: -1 },
      resize: 'squash',
    });
    const bytes = writeTflite(model);
    writeFileSync(file, bytes);
    const res = cli('inspect', file, '--json');
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const r = JSON.parse(res.stdout) as InspectReport;
    expect(r.fileBytes).toBe(bytes.length);
    expect(r.ops).toEqual([
      { op: 'CONV_2D', count: 1 },
      { op: 'DEPTHWISE_CONV_2D', count: 1 },
      { op: 'ADD', count: 1 },
      { op: 'AVERAGE_POOL_2D', count: 1 },
      { op: 'MEAN', count: 1 },
      { op: 'FULLY_CONNECTED', count: 1 },
      { op: 'RESHAPE', count: 1 },
      { op: 'SOFTMAX', count: 1 },
    ]);
    expect(r.tensorCount).toBe(model.tensors.length);
    const constBytes = model.buffers.reduce((a, b) => a + b.length, 0);
    expect(r.weightBytes.total).toBe(constBytes);
    expect(r.weightBytes.byType.int8).toBe(108 + 36 + 20);
    expect(r.weightBytes.byType.int32).toBe(16 + 16 + 8 + 20 + 8);
    expect(r.inputs[0]).toMatchObject({ name: 'input', shape: [1, 8, 8, 3], type: 'int8' });
    expect(r.outputs[0]!.quantization).toEqual({ scale: [Math.fround(1 / 256)], zeroPoint: [-128] });
    expect(r.plastisort?.labels).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(r.metadataKeys).toContain('plastisort');
    // Input 192 B and conv output 64 B are live together at op 0 (the 16-aligned offsets add nothing here).
    expect(r.arena.peakBytes).toBeGreaterThanOrEqual(192 + 64);

    const text = cli('inspect', file);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^operators: 8$/m);
    expect(text.stdout).toMatch(/DEPTHWISE_CONV_2D\s+1/);
    expect(text.stdout).toMatch(/per-channel ×4 \(dim 3\)/);
    expect(text.stdout).toMatch(/plastisort: 5 labels/);
  });

  it('exits non-zero with one line, no stack trace, on truncated, random or missing files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'plastisort-inspect-'));
    const good = writeTflite(int8ChainModel());
    const cases: [string, Uint8Array | undefined, RegExp][] = [
      ['cut.tflite', good.subarray(0, Math.floor(good.length / 2)), /cut\.tflite: truncated at byte \d+/],
      ['noise.tflite', Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251), /noise\.tflite: not a TFLite file/],
      ['missing.tflite', undefined, /missing\.tflite: cannot read the file \(ENOENT\)/],
    ];
    for (const [name, bytes, message] of cases) {
      const file = join(dir, name);
      if (bytes) writeFileSync(file, bytes);
      const res = cli('inspect', file);
      expect(res.status).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toMatch(message);
      expect(res.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('never throws anything but UserError on thousands of truncations and byte flips', () => {
    const r = rng(2024);
    const bases: [string, Uint8Array][] = [['generated', writeTflite(int8ChainModel())]];
    if (existsSync(PTQ)) bases.push(['official', new Uint8Array(readFileSync(PTQ))]);
    else console.warn(`fuzz: official file ${PTQ} absent, fuzzing the generated model only`);
    let rejected = 0;
    let accepted = 0;
    for (const [, base] of bases) {
      // Where the tables end: everything before the first weight byte is structure.
      const hot = base === bases[0]![1] ? base.length : 64 * 1024;
      const n = base.length > 1e6 ? 120 : 3000;
      for (let i = 0; i < n; i++) {
        const err = inspectBytes(mutate(base, r, hot));
        if (err === undefined) accepted++;
        else if (err instanceof UserError) {
          rejected++;
          expect(err.message).not.toMatch(/\n/);
        } else throw err;
      }
    }
    console.info(`fuzz: ${accepted} mutated files accepted, ${rejected} rejected with a UserError`);
    // Both outcomes occur: the mutations are neither all harmless nor all fatal.
    expect(rejected).toBeGreaterThan(100);
    expect(accepted).toBeGreaterThan(10);
  });
});
