import { describe, expect, it, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkExport, exportModel } from '../../host/export/export.ts';
import { generateFirmwareFiles, modelDataCc, MODEL_DATA_CC } from '../../host/export/generate.ts';
import { TFLM_RESOLVER_METHODS } from '../../host/export/ops.ts';
import { planArena } from '../../host/tflite/arena.ts';
import { arenaBudget } from '../../host/tflite/arena-budget.ts';
import { readTflite } from '../../host/tflite/reader.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import type { TfliteModel } from '../../host/tflite/model.ts';
import { isUserError } from '../../host/util/errors.ts';
import { int8Classifier } from './fixtures.ts';

const root = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'plastisort-export-'));

function writeModel(name: string, model: TfliteModel): string {
  const path = join(work, name);
  writeFileSync(path, writeTflite(model));
  return path;
}

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'test/export/export-cli.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PLASTISORT_QUIET: '0' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function readDir(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

function hasTool(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { encoding: 'utf8' }).status === 0;
}

const labels = ['PET', 'HDPE', 'say "hi" \\ ??=', 'Ünïcode'];
let modelPath: string;

beforeAll(() => {
  modelPath = writeModel('model.tflite', int8Classifier({ residual: true, labels }));
});

describe('plastisort export', () => {
  it('is byte-identical across runs and output folders, and leaves unchanged files alone', async () => {
    const a = join(work, 'a');
    const b = join(work, 'b');
    const first = await exportModel(modelPath, a);
    await exportModel(modelPath, b);
    expect(first.written.length).toBe(4);
    expect(readDir(a)).toEqual(readDir(b));
    expect(Object.keys(readDir(a))).toEqual(['model_data.cc', 'model_data.h', 'model_info.h', 'op_resolver.h']);
    const again = await exportModel(modelPath, a);
    expect(again.written).toEqual([]);
    expect(again.unchanged.length).toBe(4);
    // Nothing machine- or path-specific leaks into the output.
    for (const text of Object.values(readDir(a))) {
      expect(text).not.toContain(work);
      expect(text).not.toMatch(/20\d\d-\d\d-\d\d/);
    }
  });

  it('--check passes right after export and fails naming the stale files after a model change', () => {
    const out = join(work, 'check');
    expect(cli('export', modelPath, '--out', out).code).toBe(0);
    const ok = cli('export', modelPath, '--out', out, '--check');
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('up to date');

    const changed = writeModel('changed.tflite', int8Classifier({ residual: true, labels, seed: 7 }));
    const stale = cli('export', changed, '--out', out, '--check');
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toContain(join(out, 'model_data.cc'));
    expect(stale.stderr).toContain(join(out, 'model_info.h'));
    expect(stale.stderr.trim().split('\n')).toHaveLength(1);
    expect(stale.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('--check accepts an absent model_data.cc (built from models/ at build time) but not an absent header', async () => {
    const out = join(work, 'clean-clone');
    await exportModel(modelPath, out);
    rmSync(join(out, MODEL_DATA_CC));
    const r = await checkExport(modelPath, out);
    expect(r.stale).toEqual([]);
    expect(r.absentBuildTime).toEqual([join(out, MODEL_DATA_CC)]);
    rmSync(join(out, 'op_resolver.h'));
    expect((await checkExport(modelPath, out)).stale).toEqual([join(out, 'op_resolver.h')]);
  });

  it('model_info.h holds the model\'s values', () => {
    const bytes = new Uint8Array(readFileSync(modelPath));
    const model = readTflite(bytes, modelPath);
    const info = generateFirmwareFiles(bytes, model, modelPath).files.find((f) => f.name === 'model_info.h')!.content;
    const num = (name: string) => {
      const m = new RegExp(`constexpr (?:int|size_t|float) ${name} = ([-0-9.e]+)f?;`).exec(info);
      expect(m, name).not.toBeNull();
      return Number(m![1]);
    };
    const input = model.tensors[model.inputs[0]!]!;
    const output = model.tensors[model.outputs[0]!]!;
    expect([num('kInputHeight'), num('kInputWidth'), num('kInputChannels')]).toEqual(input.shape.slice(1));
    expect(Math.fround(num('kInputScale'))).toBe(Math.fround(input.quantization!.scale[0]!));
    expect(num('kInputZeroPoint')).toBe(input.quantization!.zeroPoint[0]);
    expect(Math.fround(num('kOutputScale'))).toBe(Math.fround(output.quantization!.scale[0]!));
    expect(num('kOutputZeroPoint')).toBe(output.quantization!.zeroPoint[0]);
    expect(num('kNumClasses')).toBe(labels.length);
    expect(num('kModelBytes')).toBe(bytes.length);
    expect(num('kResizeMode')).toBe(1);
    const sha = /kModelSha256\[32\] = \{([^}]*)\}/.exec(info)![1]!.match(/0x[0-9a-f]{2}/g)!.map((h) => h.slice(2)).join('');
    expect(sha).toBe(createHash('sha256').update(bytes).digest('hex'));
    // The plan holds the activations and, on top, the ESP-NN scratch buffers of the worst esp-nn.
    const budget = arenaBudget(model);
    expect(num('kArenaPlannedBytes')).toBe(Math.max(...budget.espNn.map((v) => v.plannedBytes)));
    expect(num('kArenaPlannedBytes')).toBeGreaterThanOrEqual(planArena(model).peakBytes);
    expect(num('kArenaBytes')).toBe(Math.ceil(num('kArenaPlannedBytes') / 16) * 16 + num('kArenaMarginBytes'));
    expect(num('kArenaMarginBytes')).toBeGreaterThanOrEqual(16 * 1024);
    expect(num('kArenaBytes') % 16).toBe(0);
    expect(num('kArenaPreserveAllBytes')).toBeGreaterThanOrEqual(num('kArenaBytes'));
  });

  it('op_resolver.h adds exactly the model\'s ops, in first-use order', () => {
    for (const residual of [false, true]) {
      const model = int8Classifier({ residual });
      const bytes = writeTflite(model);
      const text = generateFirmwareFiles(bytes, readTflite(bytes), 'm').files.find((f) => f.name === 'op_resolver.h')!.content;
      const added = [...text.matchAll(/resolver\.(Add\w+)\(\)/g)].map((m) => m[1]);
      const expected = [...new Set(model.operators.map((o) => o.op))].map((op) => TFLM_RESOLVER_METHODS[op]);
      expect(added).toEqual(expected);
      expect(text).toContain(`constexpr unsigned int kOpCount = ${expected.length};`);
    }
  });

  it('refuses ops TFLM cannot resolve, float models and label/class mismatches with one-line errors', () => {
    const base = int8Classifier();
    const bytes = writeTflite(base);
    const withOther: TfliteModel = {
      ...base,
      operators: base.operators.map((op, k) =>
        k === 1 ? { op: 'OTHER', name: 'LSH_PROJECTION', builtinCode: 15, inputs: op.inputs, outputs: op.outputs } : op,
      ),
    };
    const expectUserError = (fn: () => unknown, ...parts: string[]) => {
      try {
        fn();
      } catch (e) {
        expect(isUserError(e)).toBe(true);
        const msg = (e as Error).message;
        for (const p of parts) expect(msg).toContain(p);
        expect(msg).not.toContain('\n');
        return;
      }
      throw new Error('expected a UserError');
    };
    expectUserError(() => generateFirmwareFiles(bytes, withOther, 'odd.tflite'), 'odd.tflite', 'LSH_PROJECTION', 'operator 1');
    const custom: TfliteModel = {
      ...base,
      operators: [...base.operators, { op: 'OTHER', name: 'CUSTOM:MyOp', builtinCode: 32, inputs: [], outputs: [0] }],
    };
    expectUserError(() => generateFirmwareFiles(bytes, custom, 'c.tflite'), 'CUSTOM:MyOp');
    const floatInput: TfliteModel = {
      ...base,
      tensors: base.tensors.map((t, i) => (i === base.inputs[0] ? { ...t, type: 'float32' as const } : t)),
    };
    expectUserError(() => generateFirmwareFiles(bytes, floatInput, 'f.tflite'), 'float32', 'plastisort quantize');
    const fourLabels = int8Classifier({ labels: ['a', 'b', 'c'] });
    fourLabels.metadata = int8Classifier({ labels: ['a', 'b', 'c', 'd'] }).metadata;
    expectUserError(() => generateFirmwareFiles(bytes, fourLabels, 'l.tflite'), '4 labels', '3 classes');

    const truncated = join(work, 'truncated.tflite');
    writeFileSync(truncated, bytes.subarray(0, 100));
    const r = cli('export', truncated, '--out', join(work, 'never'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('truncated.tflite');
    expect(existsSync(join(work, 'never'))).toBe(false);
  });

  it('labels fall back to placeholders when the model has no plastisort metadata', () => {
    const bytes = writeTflite(int8Classifier({ metadata: false }));
    const info = generateFirmwareFiles(bytes, readTflite(bytes), 'm').files.find((f) => f.name === 'model_info.h')!.content;
    expect(info).toContain('"class_0"');
    expect(info).toContain('placeholders');
  });
});

describe.skipIf(!hasTool('g++'))('generated files compile as C++17', () => {
  if (!hasTool('g++')) console.warn('skipping the g++ compile test of the exported headers: g++ not found');

  it('compiles with -Wall -Wextra -Werror against a stub TFLM resolver and reports the model back', async () => {
    const out = join(work, 'compile');
    await exportModel(modelPath, out);
    const stubDir = join(work, 'stub/tensorflow/lite/micro');
    mkdirSync(stubDir, { recursive: true });
    // A stand-in with TFLM's names: every Add<Op>() records the op and fails past the capacity, as
    // MicroMutableOpResolver does.
    const methods = [...new Set(Object.values(TFLM_RESOLVER_METHODS))]
      .map((m) => `  TfLiteStatus ${m}() { return Record("${m}"); }\n`)
      .join('');
    writeFileSync(
      join(stubDir, 'micro_mutable_op_resolver.h'),
      `#pragma once\n#include <string>\n#include <vector>\ntypedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;\nnamespace tflite {\ntemplate <unsigned int tOpCount>\nclass MicroMutableOpResolver {\n public:\n  std::vector<std::string> added;\n${methods}\n private:\n  TfLiteStatus Record(const char* name) {\n    if (added.size() >= tOpCount) return kTfLiteError;\n    added.push_back(name);\n    return kTfLiteOk;\n  }\n};\n}  // namespace tflite\n`,
    );
    const main = join(work, 'main.cc');
    writeFileSync(
      main,
      `#include <cstdint>
#include <cstdio>
#include "model_data.h"
#include "model_info.h"
#include "op_resolver.h"
using namespace plastisort_model;
int main() {
  OpResolver r = MakeOpResolver();
  std::printf("ops");
  for (const auto& n : r.added) std::printf(" %s", n.c_str());
  std::printf("\\nlabels");
  for (int i = 0; i < kNumClasses; ++i) std::printf(" [%s]", kLabels[i]);
  unsigned long sum = 0;
  for (unsigned int i = 0; i < g_model_data_len; ++i) sum += g_model_data[i];
  std::printf("\\nlen %u sum %lu aligned %d\\n", g_model_data_len, sum,
              static_cast<int>(reinterpret_cast<std::uintptr_t>(g_model_data) % 16 == 0));
  std::printf("shape %d %d %d arena %zu\\n", kInputWidth, kInputHeight, kInputChannels, kArenaBytes);
  return RegisterModelOps(r) == kTfLiteError ? 0 : 1;  // a second registration overflows the capacity
}
`,
    );
    const exe = join(work, 'main');
    const cc = spawnSync(
      'g++',
      ['-std=c++17', '-Wall', '-Wextra', '-Werror', '-I', out, '-I', join(work, 'stub'), main, join(out, 'model_data.cc'), '-o', exe],
      { encoding: 'utf8' },
    );
    expect(cc.stderr).toBe('');
    expect(cc.status).toBe(0);
    const run = spawnSync(exe, [], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    const bytes = readFileSync(modelPath);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('ops AddConv2D AddDepthwiseConv2D AddAdd AddMean AddFullyConnected AddSoftmax');
    expect(lines[1]).toBe('labels ' + labels.map((l) => `[${l}]`).join(' '));
    expect(lines[2]).toBe(`len ${bytes.length} sum ${bytes.reduce((a, b) => a + b, 0)} aligned 1`);
    expect(lines[3]).toMatch(/^shape 8 8 3 arena \d+$/);
  });
});

describe.skipIf(!hasTool('cmake'))('build-time array (firmware/main/cmake/embed_model.cmake)', () => {
  if (!hasTool('cmake')) console.warn('skipping the embed_model.cmake test: cmake not found');

  it('writes the same bytes as plastisort export for any length', () => {
    const script = join(root, 'firmware/main/cmake/embed_model.cmake');
    for (const n of [1, 11, 12, 13, 24, 100]) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
      const input = join(work, `blob${n}.bin`);
      const output = join(work, `blob${n}.cc`);
      writeFileSync(input, data);
      const r = spawnSync('cmake', [`-DINPUT=${input}`, `-DOUTPUT=${output}`, '-P', script], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(readFileSync(output, 'utf8')).toBe(modelDataCc(data, createHash('sha256').update(data).digest('hex')));
    }
    const model = readFileSync(modelPath);
    const out = join(work, 'model_build.cc');
    spawnSync('cmake', [`-DINPUT=${modelPath}`, `-DOUTPUT=${out}`, '-P', script]);
    const exported = generateFirmwareFiles(new Uint8Array(model), readTflite(new Uint8Array(model)), 'm').files;
    expect(readFileSync(out, 'utf8')).toBe(exported.find((f) => f.name === MODEL_DATA_CC)!.content);
  });
});

describe('model partition header contract', () => {
  it('the flasher\'s header writer matches the firmware\'s golden vector', async () => {
    const text = readFileSync(join(root, 'firmware/components/sorter_core/test/model_partition_vectors.txt'), 'utf8');
    const field = (k: string) => Buffer.from(new RegExp(`^${k} ([0-9a-f]+)$`, 'm').exec(text)![1]!, 'hex');
    const { buildModelPartitionImage } = await import('../../host/flash/model-partition.ts');
    const image = buildModelPartitionImage(new Uint8Array(field('model')));
    expect(Buffer.from(image.subarray(0, 64)).toString('hex')).toBe(field('header').toString('hex'));
    expect(Buffer.from(image.subarray(64)).equals(field('model'))).toBe(true);
  });
});

const defaultModel = join(root, 'models/default.tflite');
describe.skipIf(!existsSync(defaultModel))('committed firmware headers', () => {
  if (!existsSync(defaultModel)) {
    console.warn('skipping the committed-headers check: models/default.tflite does not exist yet');
  }

  it('firmware/main/model matches models/default.tflite (npm run headers -- --check)', async () => {
    const r = await checkExport(defaultModel, join(root, 'firmware/main/model'));
    expect(r.stale, 'run npm run headers and commit firmware/main/model').toEqual([]);
  });
});
