/**
 * `plastisort flash --bundle DIR` writes what `esptool.py write_flash @flash_args` writes from the same
 * bundle: the firmware and, for a bundle made with `bundle --model`, the model partition; the post-flash
 * check then expects that model. `--no-model` leaves the bundle's model out, `--model` replaces it.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBundle, type BundleManifest } from '../../host/flash/bundle.ts';
import { prepareFlash } from '../../host/flash/cli-flow.ts';
import { buildModelPartitionImage } from '../../host/flash/model-partition.ts';
import { stableJson } from '../../host/util/atomic.ts';
import { APP_OFFSET, MODEL_OFFSET, makeBuildDir } from '../../testing/flash/build-fixture.ts';
import { RomEmulator } from '../../testing/flash/rom-emulator.ts';
import { esptoolJsOn } from '../support/esptool-js.ts';
import { runFlashCommandOn } from '../support/flash-command.ts';
import { tinyModel } from '../serial/fixtures.ts';

const FOUR_MB = 4 * 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

async function bundle(withModel = true) {
  const build = await mkdtemp(join(tmpdir(), 'bundle-model-build-'));
  const images = await makeBuildDir(build);
  const model = tinyModel(4);
  await writeFile(join(build, 'm.tflite'), model);
  const out = join(await mkdtemp(join(tmpdir(), 'bundle-model-')), 'bin-v1');
  await createBundle(join(build, 'flasher_args.json'), out, withModel ? join(build, 'm.tflite') : undefined);
  return { build, images, model, out };
}

const opts = (out: string, extra: Record<string, unknown> = {}) => ({ bundle: out, build: '/nonexistent', baud: 921600, modelOnly: false, verify: false, ...extra });

describe('flash --bundle writes the bundle as esptool does', () => {
  it('leaves the same flash as esptool-js writing the files of flash_args', async () => {
    const { out } = await bundle();
    const args = (await readFile(join(out, 'flash_args'), 'utf8')).trim().split('\n').slice(1);
    const fileArray = await Promise.all(
      args.map(async (l) => ({ address: Number(l.split(' ')[0]), data: new Uint8Array(await readFile(join(out, l.split(' ')[1]!))) })),
    );
    const { emulator: byEsptool, loader, transport } = await esptoolJsOn({ flashSize: FOUR_MB });
    try {
      await loader.detectChip('default_reset');
      await loader.flashSpiAttach(0);
      loader.FLASH_WRITE_SIZE = loader.chip.FLASH_WRITE_SIZE;
      await loader.writeFlash({ fileArray, flashSize: '4MB', flashMode: 'keep', flashFreq: 'keep', eraseAll: false, compress: true });
    } finally {
      await transport.disconnect();
    }
    const byPlastisort = new RomEmulator({ flashSize: FOUR_MB });
    const result = await runFlashCommandOn(byPlastisort, opts(out));
    expect(result.regions.map((r) => [r.role, r.offset])).toEqual([
      ['bootloader', 0],
      ['partition-table', 0x8000],
      ['app', APP_OFFSET],
      ['model', MODEL_OFFSET],
    ]);
    expect(same(byPlastisort.flash, byEsptool.flash)).toBe(true);
  });

  it('the post-flash check expects the bundle\'s model', async () => {
    const { out, model } = await bundle();
    const prepared = await prepareFlash(opts(out));
    expect(prepared.model && same(prepared.model.data, model)).toBe(true);
    expect(prepared.images.map((i) => i.role)).toEqual(['bootloader', 'partition-table', 'app', 'model']);
    expect(same(prepared.images.at(-1)!.data, new Uint8Array(await readFile(join(out, 'model-partition.bin'))))).toBe(true);
  });

  const sim = resolve(import.meta.dirname, '../../build-host/sim/sorter-sim');
  it.skipIf(!existsSync(sim))('--model-only writes the bundle\'s model alone, and the board answers with it', async () => {
    const { out, model, build } = await bundle();
    await writeFile(join(build, 'builtin.tflite'), tinyModel(1));
    const emulator = new RomEmulator({ flashSize: FOUR_MB, app: { simBinary: sim, builtinModel: join(build, 'builtin.tflite'), modelPartitionOffset: MODEL_OFFSET } });
    try {
      const result = await runFlashCommandOn(emulator, opts(out, { modelOnly: true, verify: true }));
      expect(result.regions.map((r) => r.role)).toEqual(['model']);
      expect(result.identity?.modelSha256).toBe(sha(model));
      expect(emulator.appModelSource).toBe('partition');
    } finally {
      emulator.stopApp();
    }
  });

  it('--no-model writes the firmware only and leaves the model partition as it was', async () => {
    const { out } = await bundle();
    const emulator = new RomEmulator({ flashSize: FOUR_MB });
    emulator.flash.fill(0x5a, MODEL_OFFSET, MODEL_OFFSET + 0x1000);
    const result = await runFlashCommandOn(emulator, opts(out, { model: false }));
    expect(result.regions.map((r) => r.role)).toEqual(['bootloader', 'partition-table', 'app']);
    expect(emulator.flash.subarray(MODEL_OFFSET, MODEL_OFFSET + 0x1000).every((b) => b === 0x5a)).toBe(true);
    expect((await prepareFlash(opts(out, { model: false }))).model).toBeUndefined();
  });

  it('--model FILE replaces the bundle\'s model', async () => {
    const { out, build } = await bundle();
    const other = tinyModel(9);
    await writeFile(join(build, 'other.tflite'), other);
    const emulator = new RomEmulator({ flashSize: FOUR_MB });
    await runFlashCommandOn(emulator, opts(out, { model: join(build, 'other.tflite') }));
    const blob = buildModelPartitionImage(other);
    expect(same(emulator.flash.subarray(MODEL_OFFSET, MODEL_OFFSET + blob.length), blob)).toBe(true);
  });

  it('a bundle without a model writes the firmware; --model-only then names the missing model', async () => {
    const { out } = await bundle(false);
    const emulator = new RomEmulator({ flashSize: FOUR_MB });
    const result = await runFlashCommandOn(emulator, opts(out));
    expect(result.regions.map((r) => r.role)).toEqual(['bootloader', 'partition-table', 'app']);
    await expect(prepareFlash(opts(out, { modelOnly: true }))).rejects.toThrow(`--model-only: the bundle ${out} holds no model; pass --model FILE.tflite`);
  });

  it('refuses --no-model with --model-only, and a model-partition.bin that is not model.tflite\'s', async () => {
    const { out } = await bundle();
    await expect(prepareFlash(opts(out, { model: false, modelOnly: true }))).rejects.toThrow('--no-model with --model-only would write nothing; drop one of them');
    // A hand-edited bundle: another model's partition image, with a manifest to match, so only the pairing is wrong.
    const other = buildModelPartitionImage(tinyModel(9));
    await writeFile(join(out, 'model-partition.bin'), other);
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as BundleManifest;
    manifest.files.find((f) => f.role === 'model-partition')!.sha256 = sha(other);
    await writeFile(join(out, 'manifest.json'), stableJson(manifest));
    const emulator = new RomEmulator({ flashSize: FOUR_MB });
    await expect(runFlashCommandOn(emulator, opts(out))).rejects.toThrow(
      /model-partition\.bin is not the partition image of .*model\.tflite at 0x110000, so esptool and plastisort would write different models/,
    );
    expect(emulator.bootCount).toBe(0);
  });
});

describe('through the built CLI', () => {
  it('flash --help offers --no-model; --no-model --model-only is one line, exit 1', async () => {
    const cli = resolve('dist/plastisort.js');
    const help = spawnSync(process.execPath, [cli, 'flash', '--help'], { encoding: 'utf8' }).stdout;
    expect(help).toContain('--no-model');
    const { out } = await bundle();
    const r = spawnSync(process.execPath, [cli, 'flash', '--bundle', out, '--no-model', '--model-only', '--port', '/dev/null'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('plastisort: --no-model with --model-only would write nothing; drop one of them\n');
  });
});
