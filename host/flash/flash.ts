import { createHash } from 'node:crypto';
import { UserError } from '../util/errors.ts';
import type { ByteLink } from '../link/port.ts';
import { buildModelPartitionImage } from './model-partition.ts';
import { FlashError, PortLostError, RomLoader, type ResetStrategy } from './rom-loader.ts';
import { modelPartition, type FlashImage, type FlashPlan } from './images.ts';
import { sha256Hex } from '../util/hash.ts';

export interface FlashOptions {
  plan: FlashPlan;
  link: ByteLink;
  /** Transfer rate after sync; the ROM always syncs at 115200. */
  baud: number;
  resetStrategy: ResetStrategy;
  /** With modelOnly, only the model partition is written (header + model). */
  model?: { data: Uint8Array; source: string };
  modelOnly?: boolean;
  /** Send zlib-compressed blocks (FLASH_DEFL_*), which the ESP32-S3 ROM inflates; default true. */
  compress?: boolean;
  onProgress?: (role: string, written: number, total: number) => void;
  log?: (line: string) => void;
}

export interface FlashedRegion {
  role: string;
  offset: number;
  /** Bytes written, the image padded to a 4-byte multiple as esptool pads it. */
  bytes: number;
  md5: string;
  seconds: number;
}

export interface FlashResult {
  chip: string;
  regions: FlashedRegion[];
  bytesWritten: number;
  seconds: number;
  /** Whether the ROM talked over USB-Serial-JTAG (and its watchdogs were quieted). */
  usbJtag: boolean;
  /** Data blocks sent again after a refusal or a lost answer. */
  retries: number;
}

/** esptool pads every image with 0xFF to a 4-byte multiple before writing and hashing it. */
export function padToWord(data: Uint8Array): Uint8Array {
  if (data.length % 4 === 0) return data;
  const out = new Uint8Array(Math.ceil(data.length / 4) * 4).fill(0xff);
  out.set(data);
  return out;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** The model partition image (header + model) at the model partition's offset, refused if it does not fit. */
export function modelPartitionImage(plan: FlashPlan, model: { data: Uint8Array; source: string }): FlashImage {
  const part = modelPartition(plan);
  const data = buildModelPartitionImage(model.data, model.source);
  if (data.length > part.size) {
    throw new UserError(
      `${model.source}: the model needs ${data.length} bytes with its header, the "${part.label}" partition holds ${part.size}; enlarge it in firmware/partitions.csv or use a smaller model`,
    );
  }
  return { role: 'model', offset: part.offset, file: model.source, data, sha256: sha256Hex(data) };
}

/** The images a flash writes, with the model partition image appended (or alone with modelOnly). */
export function imagesToWrite(plan: FlashPlan, model?: FlashOptions['model'], modelOnly = false): FlashImage[] {
  if (modelOnly && !model) throw new UserError('--model-only needs --model FILE.tflite');
  const images = modelOnly ? [] : [...plan.images];
  if (model) images.push(modelPartitionImage(plan, model));
  return images;
}

export async function flashBoard(opts: FlashOptions): Promise<FlashResult> {
  const log = opts.log ?? (() => {});
  const images = imagesToWrite(opts.plan, opts.model, opts.modelOnly);
  const t0 = performance.now();
  const loader = new RomLoader(opts.link);
  const regions: FlashedRegion[] = [];
  try {
    let chip: string;
    let usbJtag: boolean;
    try {
      await loader.connect(opts.resetStrategy);
      chip = await loader.checkChip();
      log(`connected to ${chip} on ${opts.link.path}`);
      usbJtag = await loader.quietWatchdogsOnUsb();
      await loader.attachFlash(opts.plan.flashSize);
      if (opts.baud !== 115200) await loader.changeBaudRate(opts.baud);
    } catch (e) {
      if (e instanceof PortLostError) throw new PortLostError(`${e.message} before anything was written; the board is as it was. ${RECONNECT}`);
      throw e;
    }
    for (const img of images) {
      const started = performance.now();
      const data = padToWord(img.data);
      const expected = createHash('md5').update(data).digest('hex');
      let md5: string;
      try {
        await loader.writeFlash(img.offset, data, (w, total) => opts.onProgress?.(img.role, w, total), opts.compress ?? true);
        md5 = await loader.flashMd5(img.offset, data.length);
      } catch (e) {
        throw halfWritten(img, e as Error, regions);
      }
      if (md5 !== expected) {
        throw halfWritten(
          img,
          new FlashError(`MD5 mismatch after writing ${img.file} at ${hex(img.offset)}: expected ${expected}, the board has ${md5}`),
          regions,
        );
      }
      regions.push({ role: img.role, offset: img.offset, bytes: data.length, md5, seconds: (performance.now() - started) / 1000 });
      log(`wrote ${img.role} ${img.file} (${img.data.length} bytes at ${hex(img.offset)}), MD5 verified`);
    }
    // Without reset lines, FLASH_END asks the ROM to run the new app.
    try {
      if (opts.resetStrategy === 'none') await loader.runUserCode();
      else await loader.hardReset();
    } catch (e) {
      if (e instanceof PortLostError) {
        throw new PortLostError(
          `${e.message} after every region was written and verified by MD5 (${regions.map((r) => r.role).join(', ')}), before the reset into the app; reconnect the board (or tap RESET) and it boots the new firmware`,
        );
      }
      throw e;
    }
    return {
      chip,
      usbJtag,
      retries: loader.retries,
      regions,
      bytesWritten: regions.reduce((s, r) => s + r.bytes, 0),
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    loader.dispose();
  }
}

const RECONNECT = 'Reconnect the board (check the USB cable) and run the same command again';

/**
 * The error for a region whose write or check failed: what is on the board now and what to do. A port
 * that went away or a refusal stays a user error (exit 1); anything else is a bug, with the same words.
 */
function halfWritten(img: FlashImage, cause: Error, done: FlashedRegion[] = []): Error {
  const consequence =
    img.role === 'app'
      ? 'the app is half-written and the board will not boot it until a flash succeeds'
      : img.role === 'model'
        ? 'the model partition is invalid; the firmware will fall back to its built-in model'
        : `the ${img.role} region is half-written; the board may not boot until a flash succeeds`;
  if (cause instanceof PortLostError) {
    const before = done.length ? ` (${done.map((r) => r.role).join(', ')} written and verified before it)` : '';
    return new PortLostError(
      `${cause.message} while writing the ${img.role} (${img.file} at ${hex(img.offset)}); ${consequence}${before}. ${RECONNECT}`,
    );
  }
  const msg = `${cause.message}; ${consequence}. Re-run plastisort flash (a lower --baud helps on long cables)`;
  return cause instanceof UserError ? new FlashError(msg) : new Error(msg, { cause });
}
