/**
 * flash and bundle apply export's device contract to --model before anything else (one check,
 * checkModelForDevice): a model the firmware cannot run (uint8 input, more classes than it sorts, an op
 * its build's resolver lacks) is refused with export's message before a bundle is written or a port
 * opened. What the firmware only warns about (no plastisort metadata) is a warning.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createBundle } from '../../host/flash/bundle.ts';
import { readModelForDevice } from '../../host/flash/model-file.ts';
import { log } from '../../host/util/log.ts';
import { prepareFlash } from '../../host/flash/cli-flow.ts';
import { exportModel } from '../../host/export/export.ts';
import { FIRMWARE_LABEL_STORAGE_BYTES, FIRMWARE_MAX_CLASSES } from '../../host/export/generate.ts';
import { parseOpResolverHeader } from '../../host/export/ops.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { UserError } from '../../host/util/errors.ts';
import { projectWithBuild } from './project-with-build.ts';
import { int8Classifier, type FixtureOptions } from '../export/fixtures.ts';

const cli = resolve('dist/plastisort.js');
const root = resolve(import.meta.dirname, '../..');

function plastisort(cwd: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, env: { ...process.env, PLASTISORT_DEBUG: '' }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const model = (o: FixtureOptions = {}) => writeTflite(int8Classifier(o));

/** The classifier with a uint8 input (zero point 128), as the official quantized MobileNets are. */
function uint8InputModel(): Uint8Array {
  const m = int8Classifier();
  const input = m.tensors[m.inputs[0]!]!;
  input.type = 'uint8';
  input.quantization = { scale: [1 / 127.5], zeroPoint: [127] };
  return writeTflite(m);
}

/**
 * A project folder: firmware/build (flasher_args.json and images) whose app holds the SHA-256 of its
 * built-in model, and firmware/main/model/op_resolver.h exported from that model, as the ESP-IDF build
 * leaves them. The built-in model is the classifier without the residual block (no DEPTHWISE_CONV_2D, ADD).
 */
async function project(opts: { appKnowsHeader?: boolean } = {}): Promise<{ dir: string; build: string }> {
  return projectWithBuild('model-contract-', opts);
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(UserError);
  expect((e as Error).message).not.toContain('\n');
  return e as Error;
}

describe('flash and bundle refuse a model the firmware cannot run, as export does', () => {
  it('a uint8-input model: the same message from export, bundle and flash, and nothing written', async () => {
    const { dir, build } = await project();
    const file = join(dir, 'u8.tflite');
    writeFileSync(file, uint8InputModel());
    const expected = `${file}: the model input "input" is uint8; the firmware runs full-int8 models only, create one with plastisort quantize`;
    expect((await rejection(exportModel(file, join(dir, 'hdr')))).message).toBe(expected);
    expect((await rejection(createBundle(join(build, 'flasher_args.json'), join(dir, 'bundle'), file))).message).toBe(expected);
    expect(existsSync(join(dir, 'bundle'))).toBe(false);
    expect((await rejection(prepareFlash({ build, baud: 115200, model: file, modelOnly: true }))).message).toBe(expected);
    // With a bundle instead of a build folder too.
    await createBundle(join(build, 'flasher_args.json'), join(dir, 'bundle'));
    expect((await rejection(prepareFlash({ bundle: join(dir, 'bundle'), build: '', baud: 115200, model: file, modelOnly: true }))).message).toBe(expected);
  });

  it('the model is checked before the firmware build: a bad model without a build names the model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'model-contract-'));
    writeFileSync(join(dir, 'u8.tflite'), uint8InputModel());
    const e = await rejection(createBundle(join(dir, 'nobuild', 'flasher_args.json'), join(dir, 'bundle'), join(dir, 'u8.tflite')));
    expect(e.message).toMatch(/u8\.tflite: the model input "input" is uint8/);
  });

  it(`more classes than the firmware sorts (${FIRMWARE_MAX_CLASSES})`, async () => {
    const { dir, build } = await project();
    const file = join(dir, 'many.tflite');
    writeFileSync(file, model({ labels: Array.from({ length: FIRMWARE_MAX_CLASSES + 1 }, (_, i) => `c${i}`) }));
    const expected = new RegExp(`many\\.tflite: the output "probs" has ${FIRMWARE_MAX_CLASSES + 1} classes; the firmware sorts at most ${FIRMWARE_MAX_CLASSES}`);
    expect((await rejection(exportModel(file, join(dir, 'hdr')))).message).toMatch(expected);
    expect((await rejection(createBundle(join(build, 'flasher_args.json'), join(dir, 'bundle'), file))).message).toMatch(expected);
    expect((await rejection(prepareFlash({ build, baud: 115200, model: file, modelOnly: true }))).message).toMatch(expected);
    // Exactly the limit is fine.
    writeFileSync(file, model({ labels: Array.from({ length: FIRMWARE_MAX_CLASSES }, (_, i) => `c${i}`) }));
    await expect(prepareFlash({ build, baud: 115200, model: file, modelOnly: true })).resolves.toBeDefined();
  });

  it('an op the build\'s resolver lacks is named up front, for --model-only, a full flash and a bundle', async () => {
    const { dir, build } = await project();
    const file = join(dir, 'residual.tflite');
    writeFileSync(file, model({ residual: true }));
    const header = join(dir, 'firmware', 'main', 'model', 'op_resolver.h');
    const expected = `${file}: the model uses DEPTHWISE_CONV_2D, ADD, which the firmware in ${build} lacks (its op resolver ${header} has CONV_2D MEAN FULLY_CONNECTED SOFTMAX, for its built-in model)`;
    for (const modelOnly of [true, false]) {
      expect((await rejection(prepareFlash({ build, baud: 115200, model: file, modelOnly }))).message).toContain(expected);
    }
    expect((await rejection(createBundle(join(build, 'flasher_args.json'), join(dir, 'bundle'), file))).message).toContain(expected);
    expect(existsSync(join(dir, 'bundle'))).toBe(false);
    // export makes firmware for the model itself, so it has no build to compare with.
    await expect(exportModel(file, join(dir, 'hdr'))).resolves.toBeDefined();
    // A model with the build's ops goes through.
    writeFileSync(join(dir, 'plain.tflite'), model({ seed: 5 }));
    const prepared = await prepareFlash({ build, baud: 115200, model: join(dir, 'plain.tflite'), modelOnly: true });
    expect(prepared.images.map((i) => i.role)).toEqual(['model']);
  });

  it('a header that is not the build\'s (its model hash is not in the app) is not taken for the build\'s resolver', async () => {
    const { dir, build } = await project({ appKnowsHeader: false });
    writeFileSync(join(dir, 'residual.tflite'), model({ residual: true }));
    await expect(prepareFlash({ build, baud: 115200, model: join(dir, 'residual.tflite'), modelOnly: true })).resolves.toBeDefined();
  });

  it('reads the committed op_resolver.h as the ops export gives the built-in model', () => {
    const text = readFileSync(join(root, 'firmware/main/model/op_resolver.h'), 'utf8');
    const parsed = parseOpResolverHeader(text);
    expect(parsed.modelSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(parsed.ops).toEqual(['CONV_2D', 'DEPTHWISE_CONV_2D', 'ADD', 'MEAN', 'FULLY_CONNECTED', 'SOFTMAX']);
  });

  it('labels longer than the firmware keeps are a warning (the board would number them), short ones none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'model-contract-'));
    const warn = vi.spyOn(log, 'warn').mockImplementation(() => {});
    try {
      writeFileSync(join(dir, 'long.tflite'), model({ labels: ['a'.repeat(200), 'b'.repeat(200), 'c'.repeat(200)] }));
      await readModelForDevice(join(dir, 'long.tflite'));
      expect(warn.mock.calls).toEqual([[`${join(dir, 'long.tflite')}: its labels take 603 bytes, the firmware keeps ${FIRMWARE_LABEL_STORAGE_BYTES}; from the \`model\` partition it would be labelled class_0..class_2`]]);
      warn.mockClear();
      writeFileSync(join(dir, 'short.tflite'), model());
      await readModelForDevice(join(dir, 'short.tflite'));
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('the limits are the firmware\'s', () => {
    const decision = readFileSync(join(root, 'firmware/components/sorter_core/include/sorter/decision.h'), 'utf8');
    expect(decision).toContain(`constexpr size_t kMaxClasses = ${FIRMWARE_MAX_CLASSES};`);
    const app = readFileSync(join(root, 'firmware/main/app_main.cc'), 'utf8');
    expect(app).toContain(`static char g_label_storage[${FIRMWARE_LABEL_STORAGE_BYTES}];`);
  });
});

describe('through the built CLI', () => {
  it('bundle --model with a uint8-input model exits 1 with one line and writes no bundle; flash stops before the port', async () => {
    const { dir } = await project();
    writeFileSync(join(dir, 'u8.tflite'), uint8InputModel());
    const before = readdirSync(dir).sort();
    const b = plastisort(dir, 'bundle', '--build', 'firmware/build', '--out', 'bundle', '--model', 'u8.tflite');
    expect(b.code).toBe(1);
    expect(b.stderr).toBe('plastisort: u8.tflite: the model input "input" is uint8; the firmware runs full-int8 models only, create one with plastisort quantize\n');
    expect(readdirSync(dir).sort()).toEqual(before);
    const f = plastisort(dir, 'flash', '--build', 'firmware/build', '--model', 'u8.tflite', '--model-only', '--port', '/dev/null');
    expect(f.code).toBe(1);
    expect(f.stderr).toBe('plastisort: u8.tflite: the model input "input" is uint8; the firmware runs full-int8 models only, create one with plastisort quantize\n');
  });

  it('a model without plastisort metadata is bundled with a one-line warning (the board labels it class_N)', async () => {
    const { dir } = await project();
    writeFileSync(join(dir, 'bare.tflite'), model({ metadata: false }));
    const b = plastisort(dir, 'bundle', '--build', 'firmware/build', '--out', 'bundle', '--model', 'bare.tflite');
    expect(b.code).toBe(0);
    expect(b.stderr).toBe(
      'warning: bare.tflite: no plastisort metadata; from the `model` partition the board labels its classes class_0..class_2 and squashes frames to 8x8 (create the model with plastisort quantize to carry its labels and resize mode)\n',
    );
    expect(existsSync(join(dir, 'bundle', 'model.tflite'))).toBe(true);
  });

  const official = '/work/shared/backbones/mobilenet_v2_1.0_224_imagenet/tflite/mobilenet_v2_1.0_224_quant.tflite';
  it.skipIf(!existsSync(official))('the official uint8 MobileNetV2 (1001 classes, no metadata) is refused by bundle and flash', async () => {
    const { dir } = await project();
    for (const args of [
      ['bundle', '--build', 'firmware/build', '--out', 'bundle', '--model', official],
      ['flash', '--build', 'firmware/build', '--model', official, '--model-only', '--port', '/dev/null'],
    ]) {
      const r = plastisort(dir, ...args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^plastisort: .*mobilenet_v2_1\.0_224_quant\.tflite: the model input "input" is uint8; the firmware runs full-int8 models only/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(existsSync(join(dir, 'bundle'))).toBe(false);
  });
});
