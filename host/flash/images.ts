import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../util/errors.ts';
import { ESP32S3_CHIP_ID } from './rom-protocol.ts';
import {
  MODEL_PARTITION_LABEL,
  PARTITION_TYPE_APP,
  parseFlashSize,
  parsePartitionTable,
  type PartitionEntry,
} from './partition-table.ts';
import { sha256Hex } from '../util/hash.ts';

/** What ESP-IDF writes to build/flasher_args.json (the parts the flasher reads). */
export interface FlasherArgs {
  flash_settings: { flash_mode: string; flash_size: string; flash_freq: string };
  flash_files: Record<string, string>;
  app?: { offset: string; file: string };
  'partition-table'?: { offset: string; file: string };
  extra_esptool_args?: { chip?: string; before?: string; after?: string };
}

export interface FlashImage {
  /** 'bootloader', 'partition-table', 'app', 'model' or the file name. */
  role: string;
  offset: number;
  file: string;
  data: Uint8Array;
  sha256: string;
}

export interface FlashPlan {
  source: string;
  chip: string;
  flashSize: number;
  flashSettings: FlasherArgs['flash_settings'];
  images: FlashImage[];
  partitions: PartitionEntry[];
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** esp_image_header_t: magic 0xE9 at byte 0, chip id (uint16) at byte 12. */
const ESP_IMAGE_MAGIC = 0xe9;
const IMAGE_CHIP_IDS: Record<number, string> = { 0: 'ESP32', 2: 'ESP32-S2', 5: 'ESP32-C3', 9: 'ESP32-S3', 12: 'ESP32-C2', 13: 'ESP32-C6', 16: 'ESP32-H2' };

/** Refuses a bootloader or app image that is not an ESP image built for the ESP32-S3, before any board is touched. */
export function checkImageChip(data: Uint8Array, file: string): void {
  if (data.length < 24 || data[0] !== ESP_IMAGE_MAGIC) {
    throw new UserError(`${file}: not an ESP image (first byte 0x${(data[0] ?? 0).toString(16)}, expected 0xe9); rebuild the firmware`);
  }
  const chipId = data[12]! | (data[13]! << 8);
  if (chipId !== ESP32S3_CHIP_ID) {
    throw new UserError(
      `${file}: the image is built for chip id ${chipId} (${IMAGE_CHIP_IDS[chipId] ?? 'unknown'}), not ${ESP32S3_CHIP_ID} (ESP32-S3); run idf.py set-target esp32s3 and rebuild`,
    );
  }
}

function parseOffset(text: string, source: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`${source}: offset "${text}" is not a number`);
  return n;
}

/**
 * Reads flasher_args.json (an ESP-IDF build folder or a bundle) and the images it names, and checks
 * them against the partition table before anything touches a board. Its callers name a missing bundle
 * themselves (verifyBundle); a missing file here is a build folder, and `--build` is the option both
 * `flash` and `bundle` have.
 */
export async function loadFlashPlan(flasherArgsPath: string): Promise<FlashPlan> {
  if (!existsSync(flasherArgsPath)) {
    throw new UserError(
      `${flasherArgsPath} not found: build the firmware first (idf.py build in firmware/), or pass --build DIR with the ESP-IDF build folder`,
    );
  }
  const base = dirname(resolve(flasherArgsPath));
  let args: FlasherArgs;
  try {
    args = JSON.parse(await readFile(flasherArgsPath, 'utf8')) as FlasherArgs;
  } catch (e) {
    throw new UserError(`${flasherArgsPath}: not valid JSON (${(e as Error).message}); rebuild the firmware`);
  }
  if (!args.flash_files || !args.flash_settings) {
    throw new UserError(`${flasherArgsPath}: no flash_files or flash_settings; is this an ESP-IDF flasher_args.json?`);
  }
  const chip = args.extra_esptool_args?.chip ?? 'esp32s3';
  if (chip !== 'esp32s3') {
    throw new UserError(`${flasherArgsPath}: the build is for ${chip}, not esp32s3; run idf.py set-target esp32s3 and rebuild`);
  }
  const roles = new Map<string, string>();
  if (args.app) roles.set(args.app.file, 'app');
  if (args['partition-table']) roles.set(args['partition-table'].file, 'partition-table');
  const images: FlashImage[] = [];
  for (const [offsetText, file] of Object.entries(args.flash_files)) {
    const path = join(base, file);
    if (!existsSync(path)) throw new UserError(`${path} (named in ${flasherArgsPath}) is missing; rebuild the firmware`);
    const data = new Uint8Array(await readFile(path));
    const offset = parseOffset(offsetText, flasherArgsPath);
    const role = roles.get(file) ?? (offset === 0 ? 'bootloader' : file);
    if (role === 'app' || role === 'bootloader') checkImageChip(data, path);
    images.push({ role, offset, file, data, sha256: sha256Hex(data) });
  }
  images.sort((a, b) => a.offset - b.offset);
  const table = images.find((i) => i.role === 'partition-table');
  if (!table) throw new UserError(`${flasherArgsPath}: no partition table among the flash files; rebuild the firmware`);
  const partitions = parsePartitionTable(table.data, join(base, table.file));
  const flashSize = parseFlashSize(args.flash_settings.flash_size);
  for (const [i, img] of images.entries()) {
    const end = img.offset + img.data.length;
    if (end > flashSize) {
      throw new UserError(`${img.file} (${img.data.length} bytes at ${hex(img.offset)}) ends past the ${args.flash_settings.flash_size} flash`);
    }
    const next = images[i + 1];
    if (next && end > next.offset) throw new UserError(`${img.file} overlaps ${next.file}; rebuild the firmware`);
    if (img.role === 'app') {
      const part = partitions.find((p) => p.type === PARTITION_TYPE_APP && p.offset === img.offset);
      if (!part) throw new UserError(`${img.file}: no app partition starts at ${hex(img.offset)} in the partition table`);
      if (img.data.length > part.size) {
        throw new UserError(
          `${img.file} is ${img.data.length} bytes, larger than its partition "${part.label}" (${part.size} bytes); enlarge it in firmware/partitions.csv or shrink the app`,
        );
      }
    }
  }
  return { source: flasherArgsPath, chip, flashSize, flashSettings: args.flash_settings, images, partitions };
}

export function modelPartition(plan: FlashPlan): PartitionEntry {
  const part = plan.partitions.find((p) => p.label === MODEL_PARTITION_LABEL);
  if (!part) throw new UserError(`${plan.source}: the partition table has no "${MODEL_PARTITION_LABEL}" partition; use firmware/partitions.csv`);
  return part;
}
