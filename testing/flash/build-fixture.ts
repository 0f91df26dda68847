import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRng } from '../../host/util/rng.ts';
import { buildPartitionTable, PARTITION_TYPE_APP, PARTITION_TYPE_DATA } from '../../host/flash/partition-table.ts';

export const APP_OFFSET = 0x10000;
export const APP_PARTITION_SIZE = 0x100000;
export const MODEL_OFFSET = 0x110000;
export const MODEL_PARTITION_SIZE = 0x40000;

/** Deterministic pseudo-random bytes, so a test's images differ from erased flash (0xFF). */
export function bytes(n: number, seed: number): Uint8Array {
  const r = createRng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

/**
 * `n` bytes that start with an ESP image header (esp_image_header_t) for `chipId`, the rest
 * pseudo-random.
 */
export function espImage(n: number, seed: number, chipId = 9): Uint8Array {
  const img = bytes(n, seed);
  img.set([0xe9, 3, 2, 0x2f, 0x00, 0x00, 0x38, 0x40, 0xee, 0, 0, 0, chipId & 0xff, chipId >> 8], 0);
  return img;
}

/** Partition sizes of firmware/partitions.csv (8 MB flash), for images as large as the real app. */
export const FIRMWARE_LAYOUT = { flashSize: '8MB', appSize: 0x3f0000, modelOffset: 0x400000, modelSize: 0x400000 };
const TEST_LAYOUT = { flashSize: '4MB', appSize: APP_PARTITION_SIZE, modelOffset: MODEL_OFFSET, modelSize: MODEL_PARTITION_SIZE };

/** A folder shaped like an ESP-IDF build output: flasher_args.json and the images it names. */
export async function makeBuildDir(
  dir: string,
  appBytes = 40_000,
  chip = 'esp32s3',
  app?: Uint8Array,
  layout = TEST_LAYOUT,
): Promise<Record<string, Uint8Array>> {
  const images = {
    bootloader: espImage(9_001, 1),
    table: buildPartitionTable([
      { label: 'nvs', type: PARTITION_TYPE_DATA, subtype: 0x02, offset: 0x9000, size: 0x6000, flags: 0 },
      { label: 'factory', type: PARTITION_TYPE_APP, subtype: 0x00, offset: APP_OFFSET, size: layout.appSize, flags: 0 },
      { label: 'model', type: PARTITION_TYPE_DATA, subtype: 0x40, offset: layout.modelOffset, size: layout.modelSize, flags: 0 },
    ]),
    app: app ?? espImage(appBytes, 3),
  };
  await mkdir(join(dir, 'bootloader'), { recursive: true });
  await mkdir(join(dir, 'partition_table'), { recursive: true });
  await writeFile(join(dir, 'bootloader/bootloader.bin'), images.bootloader);
  await writeFile(join(dir, 'partition_table/partition-table.bin'), images.table);
  await writeFile(join(dir, 'plastisort.bin'), images.app);
  await writeFile(
    join(dir, 'flasher_args.json'),
    JSON.stringify({
      write_flash_args: ['--flash_mode', 'dio', '--flash_size', layout.flashSize, '--flash_freq', '80m'],
      flash_settings: { flash_mode: 'dio', flash_size: layout.flashSize, flash_freq: '80m' },
      flash_files: { '0x0': 'bootloader/bootloader.bin', '0x8000': 'partition_table/partition-table.bin', '0x10000': 'plastisort.bin' },
      app: { offset: '0x10000', file: 'plastisort.bin', encrypted: 'false' },
      'partition-table': { offset: '0x8000', file: 'partition_table/partition-table.bin', encrypted: 'false' },
      extra_esptool_args: { after: 'hard_reset', before: 'default_reset', stub: true, chip },
    }),
  );
  return images;
}

/** Bytes that carry the TFLite file identifier, enough for the model partition writer. */
export function fakeTflite(n: number): Uint8Array {
  const m = bytes(n, 7);
  m.set(new TextEncoder().encode('TFL3'), 4);
  return m;
}
