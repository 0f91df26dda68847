import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBundle, verifyBundle } from '../../host/flash/bundle.ts';
import { runFlashCommand } from '../../host/flash/cli-flow.ts';
import { RomEmulator } from '../../host/flash/rom-emulator.ts';
import { APP_OFFSET, fakeTflite, makeBuildDir } from './fixtures.ts';

describe('release bundles', () => {
  it('packs the images, the model and their SHA-256s, and flashes from the bundle alone', async () => {
    const build = await mkdtemp(join(tmpdir(), 'bundle-build-'));
    const images = await makeBuildDir(build);
    await writeFile(join(build, 'm.tflite'), fakeTflite(5000));
    const out = join(await mkdtemp(join(tmpdir(), 'bundle-')), 'bin-v1');
    const manifest = await createBundle(join(build, 'flasher_args.json'), out, join(build, 'm.tflite'));
    expect(manifest.files.map((f) => f.role).sort()).toEqual(['app', 'bootloader', 'model', 'partition-table']);
    expect(await verifyBundle(out)).toBe(join(out, 'flasher_args.json'));

    const emulator = new RomEmulator();
    const result = await runFlashCommand({ bundle: out, build: '/nonexistent', baud: 921600, modelOnly: false, verify: false }, emulator.binding());
    expect(result.regions.map((r) => r.role)).toEqual(['bootloader', 'partition-table', 'app']);
    expect(Buffer.from(emulator.flash.subarray(APP_OFFSET, APP_OFFSET + images.app!.length)).equals(Buffer.from(images.app!))).toBe(true);
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
    await expect(runFlashCommand({ bundle: out, build: '', baud: 115200, modelOnly: false }, emulator.binding())).rejects.toThrow(
      /plastisort\.bin does not match the bundle manifest \(SHA-256 differs\)/,
    );
    expect(emulator.bootCount).toBe(0);
  });
});
