import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBundle, verifyBundle } from '../../host/flash/bundle.ts';
import { buildModelPartitionImage } from '../../host/flash/model-partition.ts';
import { APP_OFFSET, MODEL_OFFSET, makeBuildDir } from '../../testing/flash/build-fixture.ts';
import { RomEmulator } from '../../testing/flash/rom-emulator.ts';
import { esptoolJsOn, md5, romMd5 } from '../support/esptool-js.ts';
import { runFlashCommandOn } from '../support/flash-command.ts';
import { tinyModel } from '../serial/fixtures.ts';

async function bundleWithModel() {
  const build = await mkdtemp(join(tmpdir(), 'bundle-build-'));
  const images = await makeBuildDir(build);
  const model = tinyModel(4);
  await writeFile(join(build, 'm.tflite'), model);
  const out = join(await mkdtemp(join(tmpdir(), 'bundle-')), 'bin-v1');
  const manifest = await createBundle(join(build, 'flasher_args.json'), out, join(build, 'm.tflite'));
  return { build, images, model, out, manifest };
}

/** `esptool.py write_flash @flash_args` as a technician runs it: the settings line, then offset/file pairs. */
function parseFlashArgs(text: string): { settings: string; files: { address: number; file: string }[] } {
  const [settings, ...rest] = text.trim().split('\n');
  return { settings: settings!, files: rest.map((l) => ({ address: Number(l.split(' ')[0]), file: l.split(' ')[1]! })) };
}

describe('release bundles', () => {
  it('packs the images, the model and their SHA-256s, and flashes from the bundle alone, its model included', async () => {
    const { images, model, out, manifest } = await bundleWithModel();
    expect(manifest.files.map((f) => f.role).sort()).toEqual(['app', 'bootloader', 'esptool-args', 'flasher-args', 'model', 'model-partition', 'partition-table', 'readme']);
    expect(await verifyBundle(out)).toBe(join(out, 'flasher_args.json'));

    const emulator = new RomEmulator();
    const result = await runFlashCommandOn(emulator, { bundle: out, build: '/nonexistent', baud: 921600, modelOnly: false, verify: false });
    // The bundle's model partition too, as esptool writes it from flash_args (it was left out before).
    expect(result.regions.map((r) => r.role)).toEqual(['bootloader', 'partition-table', 'app', 'model']);
    expect(Buffer.from(emulator.flash.subarray(APP_OFFSET, APP_OFFSET + images.app!.length)).equals(Buffer.from(images.app!))).toBe(true);
    const blob = buildModelPartitionImage(model);
    expect(Buffer.from(emulator.flash.subarray(MODEL_OFFSET, MODEL_OFFSET + blob.length)).equals(Buffer.from(blob))).toBe(true);
  });

  it("writes esptool's flash_args, and esptool-js flashing those files leaves the model partition the firmware reads", async () => {
    const { images, model, out } = await bundleWithModel();
    const args = parseFlashArgs(await readFile(join(out, 'flash_args'), 'utf8'));
    expect(args.settings).toBe('--flash_mode dio --flash_freq 80m --flash_size 4MB');
    expect(args.files.map((f) => [f.address, f.file])).toEqual([
      [0x0, 'bootloader/bootloader.bin'],
      [0x8000, 'partition_table/partition-table.bin'],
      [APP_OFFSET, 'plastisort.bin'],
      [MODEL_OFFSET, 'model-partition.bin'],
    ]);

    const { emulator, loader, transport } = await esptoolJsOn({ flashSize: 4 * 1024 * 1024 });
    try {
      await loader.detectChip('default_reset');
      await loader.flashSpiAttach(0);
      loader.FLASH_WRITE_SIZE = loader.chip.FLASH_WRITE_SIZE;
      const fileArray = await Promise.all(args.files.map(async (f) => ({ address: f.address, data: new Uint8Array(await readFile(join(out, f.file))) })));
      await loader.writeFlash({ fileArray, flashSize: '4MB', flashMode: 'keep', flashFreq: 'keep', eraseAll: false, compress: true });
      for (const f of fileArray) {
        const padded = new Uint8Array(Math.ceil(f.data.length / 4) * 4).fill(0xff);
        padded.set(f.data);
        expect(romMd5(await loader.flashMd5sum(f.address, padded.length))).toBe(md5(padded));
      }
    } finally {
      await transport.disconnect();
    }
    const blob = buildModelPartitionImage(model);
    expect(Buffer.from(emulator.flash.subarray(MODEL_OFFSET, MODEL_OFFSET + blob.length)).equals(Buffer.from(blob))).toBe(true);
    expect(Buffer.from(emulator.flash.subarray(APP_OFFSET, APP_OFFSET + images.app!.length)).equals(Buffer.from(images.app!))).toBe(true);
  });

  it('refuses a truncated or bit-flipped model before writing a bundle', async () => {
    const build = await mkdtemp(join(tmpdir(), 'bundle-build-'));
    await makeBuildDir(build);
    const model = tinyModel(4);
    await writeFile(join(build, 'cut.tflite'), model.subarray(0, model.length - 100));
    const out = join(await mkdtemp(join(tmpdir(), 'bundle-')), 'b');
    await expect(createBundle(join(build, 'flasher_args.json'), out, join(build, 'cut.tflite'))).rejects.toThrow(/cut\.tflite: truncated/);
    // Root table offset pointing out of the file.
    const flipped = model.slice();
    flipped[1]! ^= 0x40;
    await writeFile(join(build, 'flip.tflite'), flipped);
    await expect(createBundle(join(build, 'flasher_args.json'), out, join(build, 'flip.tflite'))).rejects.toThrow(/flip\.tflite/);
    await expect(readFile(join(out, 'manifest.json'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses a damaged bundle before touching a board', async () => {
    const build = await mkdtemp(join(tmpdir(), 'bundle-build-'));
    await makeBuildDir(build);
    const out = join(await mkdtemp(join(tmpdir(), 'bundle-')), 'b');
    await createBundle(join(build, 'flasher_args.json'), out);
    const app = join(out, 'plastisort.bin');
    const bytes = await readFile(app);
    bytes[100] ^= 1;
    await writeFile(app, bytes);
    const emulator = new RomEmulator();
    await expect(runFlashCommandOn(emulator, { bundle: out, build: '', baud: 115200, modelOnly: false })).rejects.toThrow(
      /plastisort\.bin does not match the bundle manifest \(SHA-256 differs\)/,
    );
    expect(emulator.bootCount).toBe(0);
  });
});
