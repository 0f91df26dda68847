/** One image file decoded into what the split compares: pixel and file SHA-256, dHash, thumbnail, size. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { sha256Hex } from '../util/hash.ts';
import { ALPHA_BACKGROUND } from './images.ts';
import { dhashRgb, thumbRgb, type PhashBits } from './dedup.ts';

const PHOTO_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif', 'jp2', 'jxl']);

/** Image formats people keep photos in that this sharp build cannot decode, by their magic bytes. */
export function unsupportedFormat(bytes: Uint8Array): string | undefined {
  const at = (offset: number, text: string): boolean =>
    bytes.length >= offset + text.length && [...text].every((ch, i) => bytes[offset + i] === ch.charCodeAt(0));
  if (at(0, 'BM') && bytes.length >= 26) return 'BMP';
  if (at(0, '8BPS')) return 'Photoshop (PSD)';
  if (bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 1 && bytes[3] === 0) return 'ICO';
  if (at(0, '%PDF')) return 'PDF';
  return undefined;
}

export type Fingerprint =
  | { ok: true; sha256: string; fileSha256: string; phash: Uint8Array; thumb: Uint8Array; width: number; height: number }
  | { ok: false; reason: string };

/**
 * Reads and decodes one file (EXIF orientation applied, alpha on white, sRGB) and returns what the
 * split needs: pixel and file SHA-256, dHash, confirmation thumbnail, size — or why it was skipped.
 */
export async function fingerprintImage(root: string, rel: string, bits: PhashBits): Promise<Fingerprint> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(root, ...rel.split('/')));
  } catch (e) {
    return { ok: false, reason: `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  if (bytes.length === 0) return { ok: false, reason: 'empty file' };
  let format: string | undefined;
  try {
    format = (await sharp(bytes).metadata()).format;
  } catch (e) {
    const msg = (e as Error).message;
    if (/pixel limit/i.test(msg)) return { ok: false, reason: 'image too large (over the decoder\'s limit of 268 megapixels); downscale it' };
    const known = unsupportedFormat(bytes);
    if (known) return { ok: false, reason: `${known} is not supported; convert it to PNG or JPEG` };
    return { ok: false, reason: 'not an image (unknown format)' };
  }
  if (!format || !PHOTO_FORMATS.has(format)) return { ok: false, reason: `not a photo (${format ?? 'unknown'} format)` };
  let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    raw = await sharp(bytes, { failOn: 'warning' })
      .rotate()
      .flatten({ background: ALPHA_BACKGROUND })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    return { ok: false, reason: `cannot decode ${format} (${(e as Error).message.split('\n')[0]})` };
  }
  const { width, height, channels } = raw.info;
  if (channels !== 3) return { ok: false, reason: `decoded to ${channels} channels, expected 3` };
  const pixels = new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
  const sha256 = createHash('sha256').update(`${width}x${height}\n`).update(pixels).digest('hex');
  const fileSha256 = sha256Hex(bytes);
  return {
    ok: true,
    sha256,
    fileSha256,
    phash: dhashRgb(pixels, width, height, bits),
    thumb: thumbRgb(pixels, width, height),
    width,
    height,
  };
}
