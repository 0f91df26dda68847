import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatInspectReport, inspectModel, type InspectReport } from '../../host/tflite/inspect.ts';
import { readTflite } from '../../host/tflite/reader.ts';
import { withPlastisortMetadata } from '../../host/tflite/plastisort-metadata.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { UserError } from '../../host/util/errors.ts';
import { int8ChainModel } from './models.ts';
import { createRng } from '../../host/util/rng.ts';
import { Builder } from 'flatbuffers';
import { Command } from 'commander';
import { register } from '../../host/cli/commands/inspect.ts';
import * as S from '../../host/tflite/schema.ts';

const ROOT = join(import.meta.dirname, '../..');
const PTQ = join(ROOT, '../shared/backbones/mobilenet_v2_1.0_224_imagenet/tflite/tf2_mobilenet_v2_1.0_224_ptq.tflite');

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/tflite/cli-entry.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

/** The inspect command as registered by the CLI, run in this process with stdout/stderr captured. */
async function cliInProcess(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const program = new Command().name('plastisort').exitOverride();
  register(program);
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string) => ((stdout += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((stderr += chunk), true)) as typeof process.stderr.write;
  const before = process.exitCode;
  try {
    await program.parseAsync(['node', 'plastisort', ...args]);
    return { exitCode: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = before;
  }
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
  it('--json on a generated model reports its ops, tensors, weights, arena and metadata', async () => {
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
    expect(r.problems).toEqual([]);
    // Input 192 B and conv output 64 B are live together at op 0 (the 16-aligned offsets add nothing here).
    expect(r.arena.peakBytes).toBeGreaterThanOrEqual(192 + 64);

    const text = await cliInProcess('inspect', file);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/^operators: 8$/m);
    expect(text.stdout).toMatch(/DEPTHWISE_CONV_2D\s+1/);
    expect(text.stdout).toMatch(/per-channel ×4 \(dim 3\)/);
    expect(text.stdout).toMatch(/plastisort: 5 labels/);
  });

  it('exits non-zero with one line, no stack trace, on truncated, random or missing files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plastisort-inspect-'));
    const good = writeTflite(int8ChainModel());
    const cases: [string, Uint8Array | undefined, RegExp][] = [
      ['cut.tflite', good.subarray(0, Math.floor(good.length / 2)), /cut\.tflite: truncated at byte \d+/],
      ['noise.tflite', Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 251), /noise\.tflite: not a TFLite file/],
      ['missing.tflite', undefined, /missing\.tflite: cannot read the file \(ENOENT\)/],
    ];
    for (const [k, [name, bytes, message]] of cases.entries()) {
      const file = join(dir, name);
      if (bytes) writeFileSync(file, bytes);
      // One real process (exit code and stderr as a user sees them); the rest in-process to save time.
      const res = k === 0 ? cli('inspect', file) : await cliInProcess('inspect', file);
      expect('status' in res ? res.status : res.exitCode).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toMatch(message);
      expect(res.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('never throws anything but UserError on thousands of truncations and byte flips', () => {
    const r = createRng(2024);
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

  it('rejects random bytes that carry the TFL3 identifier', () => {
    const r = createRng(99);
    for (let i = 0; i < 1500; i++) {
      const b = Uint8Array.from({ length: 8 + Math.floor(r() * 400) }, () => Math.floor(r() * 256));
      b.set([0x54, 0x46, 0x4c, 0x33], 4);
      // Small root offsets so the walk reaches tables, vtables and vectors instead of stopping at once.
      if (r() < 0.7) b.set([Math.floor(r() * 64), 0, 0, 0], 0);
      const err = inspectBytes(b);
      if (err !== undefined && !(err instanceof UserError)) throw err;
    }
  });

  it('stops a small file whose tensors all share one huge shape vector', () => {
    // 2,000 tensors × one 50,000-entry shape = 100 M decoded ints from a ~230 KB file.
    const b = new Builder(1 << 20);
    b.startVector(4, 50_000, 4);
    for (let i = 0; i < 50_000; i++) b.addInt32(1);
    const shape = b.endVector();
    const tensors: number[] = [];
    for (let i = 0; i < 2000; i++) {
      b.startObject(3);
      b.addFieldOffset(S.Tensor.shape, shape, 0);
      tensors.push(b.endObject());
    }
    b.startVector(4, tensors.length, 4);
    for (let i = tensors.length - 1; i >= 0; i--) b.addOffset(tensors[i]!);
    const tv = b.endVector();
    b.startObject(1);
    b.addFieldOffset(S.SubGraph.tensors, tv, 0);
    const sg = b.endObject();
    b.startObject(0);
    const empty = b.endObject();
    b.startVector(4, 1, 4);
    b.addOffset(empty);
    const buffers = b.endVector();
    b.startVector(4, 1, 4);
    b.addOffset(sg);
    const sgs = b.endVector();
    b.startObject(5);
    b.addFieldInt32(S.Model.version, 3, 0);
    b.addFieldOffset(S.Model.subgraphs, sgs, 0);
    b.addFieldOffset(S.Model.buffers, buffers, 0);
    b.finish(b.endObject(), 'TFL3');
    const bytes = b.asUint8Array();
    const t0 = Date.now();
    expect(() => readTflite(bytes, 'bomb.tflite')).toThrow(/bomb\.tflite: corrupt TFLite file \(.*references more data than the file holds/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
