import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flashBoard } from '../../host/flash/flash.ts';
import { loadFlashPlan } from '../../host/flash/images.ts';
import { openSerialLink } from '../../host/link/port.ts';
import { MODEL_HEADER_SIZE, buildModelPartitionImage } from '../../host/flash/model-partition.ts';
import { RomEmulator, type RomEmulatorOptions } from '../../testing/flash/rom-emulator.ts';
import { emulatorBinding } from '../../testing/flash/serialport-binding.ts';
import { UserError } from '../../host/util/errors.ts';
import { APP_OFFSET, MODEL_OFFSET, bytes, fakeTflite, makeBuildDir } from '../../testing/flash/build-fixture.ts';

const PORT = '/dev/ttyEMU0';

async function setup(emulatorOptions: RomEmulatorOptions = {}, appBytes?: number) {
  const dir = await mkdtemp(join(tmpdir(), 'flash-'));
  const images = await makeBuildDir(dir, appBytes);
  const plan = await loadFlashPlan(join(dir, 'flasher_args.json'));
  const emulator = new RomEmulator(emulatorOptions);
  const link = await openSerialLink(PORT, 115200, emulatorBinding(emulator, PORT));
  return { dir, images, plan, emulator, link };
}

const slice = (emu: RomEmulator, offset: number, n: number) => emu.flash.subarray(offset, offset + n);
// vitest's deep equality walks typed arrays element by element; megabytes of flash want a byte compare.
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

describe('flashBoard against the ROM bootloader emulator', () => {
  it('writes exactly the images at their offsets, verifies them and resets into the app', async () => {
    const { images, plan, emulator, link } = await setup();
    // Old content everywhere, so that a stray erase or write outside the images shows.
    emulator.flash.set(bytes(emulator.flash.length, 99));
    const before = emulator.flash.slice();
    try {
      const result = await flashBoard({ plan, link, baud: 460800, resetStrategy: 'classic' });
      expect(result.chip).toBe('ESP32-S3');
      expect(result.usbJtag).toBe(false);
      // Compressed by default: every region went through FLASH_DEFL_*.
      expect(emulator.writes.every((w) => w.compressed)).toBe(true);
      expect(result.regions.map((r) => [r.role, r.offset])).toEqual([
        ['bootloader', 0x0],
        ['partition-table', 0x8000],
        ['app', APP_OFFSET],
      ]);
    } finally {
      await link.close();
    }
    expect(same(slice(emulator, 0x0, images.bootloader!.length), images.bootloader!)).toBe(true);
    expect(same(slice(emulator, 0x8000, images.table!.length), images.table!)).toBe(true);
    expect(same(slice(emulator, APP_OFFSET, images.app!.length), images.app!)).toBe(true);
    // Nothing outside the written images changed.
    // The ROM erases whole 4 KiB sectors, so each image's last sector is erased past its end.
    const sectorEnd = (n: number) => Math.ceil(n / 4096) * 4096;
    expect(images.bootloader!.length % 4).not.toBe(0);
    const written = [
      [0x0, sectorEnd(images.bootloader!.length)],
      [0x8000, sectorEnd(images.table!.length)],
      [APP_OFFSET, sectorEnd(images.app!.length)],
    ] as const;
    for (let i = 0; i < emulator.flash.length; i += 997) {
      if (written.some(([o, n]) => i >= o && i < o + n)) continue;
      expect(emulator.flash[i]).toBe(before[i]);
    }
    expect(emulator.mode).toBe('app');
    expect(emulator.baud).toBe(460800);
  });

  it('catches a byte flipped in transit that the XOR checksum misses, and says the app is half-written', async () => {
    const { plan, emulator, link } = await setup({ corruptTransitAt: APP_OFFSET + 5000 });
    try {
      const err = await flashBoard({ plan, link, baud: 115200, resetStrategy: 'classic', compress: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(/MD5 mismatch after writing plastisort\.bin at 0x10000/);
      expect((err as Error).message).toMatch(/half-written/);
    } finally {
      await link.close();
    }
  });

  it('refuses a board that is not an ESP32-S3 before writing anything', async () => {
    const { plan, emulator, link } = await setup({ chipMagic: 0x1b31506f });
    try {
      await expect(flashBoard({ plan, link, baud: 115200, resetStrategy: 'classic' })).rejects.toThrow(
        /the board is an ESP32-C3, not an ESP32-S3/,
      );
    } finally {
      await link.close();
    }
    expect(emulator.writes).toEqual([]);
  });

  it('--model writes only the model partition, with the header the firmware checks', async () => {
    const { plan, emulator, link } = await setup();
    emulator.flash.set(bytes(emulator.flash.length, 98));
    const before = emulator.flash.slice();
    const model = fakeTflite(30_000);
    try {
      const result = await flashBoard({ plan, link, baud: 921600, resetStrategy: 'classic', model: { data: model, source: 'm.tflite' }, modelOnly: true });
      expect(result.regions.map((r) => r.role)).toEqual(['model']);
    } finally {
      await link.close();
    }
    expect(emulator.writes.map((w) => w.offset)).toEqual([MODEL_OFFSET]);
    const blob = buildModelPartitionImage(model);
    expect(same(slice(emulator, MODEL_OFFSET, blob.length), blob)).toBe(true);
    const header = slice(emulator, MODEL_OFFSET, MODEL_HEADER_SIZE);
    expect(new TextDecoder().decode(header.subarray(0, 4))).toBe('PSMD');
    expect(Buffer.from(header.subarray(16, 48)).toString('hex')).toBe(createHash('sha256').update(model).digest('hex'));
    // Everything outside the model partition is as it was.
    expect(same(emulator.flash.subarray(0, MODEL_OFFSET), before.subarray(0, MODEL_OFFSET))).toBe(true);
    expect(same(emulator.flash.subarray(MODEL_OFFSET + blob.length + 4096), before.subarray(MODEL_OFFSET + blob.length + 4096))).toBe(true);
  });

  it('refuses a model larger than the model partition before touching the board', async () => {
    const { plan, emulator, link } = await setup();
    try {
      await expect(
        flashBoard({ plan, link, baud: 115200, resetStrategy: 'classic', model: { data: fakeTflite(0x40000), source: 'big.tflite' }, modelOnly: true }),
      ).rejects.toThrow(/big\.tflite: the model needs 262208 bytes with its header, the "model" partition holds 262144/);
    } finally {
      await link.close();
    }
    expect(emulator.bootCount).toBe(0);
  });
});

describe('loadFlashPlan', () => {
  it('refuses an app image larger than its partition', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flash-'));
    await makeBuildDir(dir, 0x100000 + 1);
    await expect(loadFlashPlan(join(dir, 'flasher_args.json'))).rejects.toThrow(
      /plastisort\.bin is 1048577 bytes, larger than its partition "factory" \(1048576 bytes\)/,
    );
  });

  it('refuses a build for another chip and names a missing build', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flash-'));
    await makeBuildDir(dir, 1000, 'esp32c3');
    await expect(loadFlashPlan(join(dir, 'flasher_args.json'))).rejects.toThrow(/the build is for esp32c3, not esp32s3/);
    await expect(loadFlashPlan(join(dir, 'nope', 'flasher_args.json'))).rejects.toThrow(/not found: build the firmware first/);
  });
});
