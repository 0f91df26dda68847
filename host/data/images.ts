/**
 * Image loading and augmentation for training, calibration and evaluation: one place that turns a
 * file into the RGB888 bytes a model sees, so every stage (and the firmware contract) agrees.
 *
 * Output layout everywhere: `size × size × 3` bytes, row-major, HWC, RGB order.
 */
import { resolve } from 'node:path';
import sharp from 'sharp';
import type { OutputInfo } from 'sharp';
import { UserError } from '../util/errors.ts';
import type { ManifestItem, SplitManifest } from './manifest.ts';

export type ResizePolicy = 'squash' | 'center-crop';
export const RESIZE_POLICIES: readonly ResizePolicy[] = ['squash', 'center-crop'];

/** The paper resized every photo to 256×256 (ignoring aspect) before the model's own resize. */
export const SQUASH_INTERMEDIATE = 256;

/**
 * Transparent pixels are composited on white: product cut-outs (the Kaggle `default/` images) are
 * studio shots on white, so white keeps them looking like their opaque siblings.
 */
export const ALPHA_BACKGROUND = { r: 255, g: 255, b: 255 } as const;

/**
 * Decodes `absPath`, applies its EXIF orientation, flattens alpha on white, converts to sRGB and
 * resizes to `size × size` with `resize`:
 * - `squash`: stretch to 256×256 ignoring aspect (as the paper did), then to `size × size`;
 * - `center-crop`: crop the central square, then resize to `size × size`.
 * Returns `size*size*3` bytes (HWC RGB). Throws a UserError naming the file when it cannot be decoded.
 */
export async function loadImageRgb(absPath: string, size: number, resize: ResizePolicy): Promise<Uint8Array> {
  if (!Number.isInteger(size) || size < 1) throw new Error(`loadImageRgb: bad size ${size}`);
  try {
    const base = () =>
      sharp(absPath, { failOn: 'error', limitInputPixels: 1 << 28 })
        .rotate()
        .flatten({ background: ALPHA_BACKGROUND })
        .toColourspace('srgb');
    let out: { data: Buffer; info: OutputInfo };
    if (resize === 'squash') {
      const mid = await base()
        .resize(SQUASH_INTERMEDIATE, SQUASH_INTERMEDIATE, { fit: 'fill' })
        .removeAlpha()
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      if (size === SQUASH_INTERMEDIATE) {
        out = mid;
      } else {
        out = await sharp(mid.data, { raw: { width: mid.info.width, height: mid.info.height, channels: mid.info.channels } })
          .resize(size, size, { fit: 'fill' })
          .raw({ depth: 'uchar' })
          .toBuffer({ resolveWithObject: true });
      }
    } else if (resize === 'center-crop') {
      out = await base()
        .resize(size, size, { fit: 'cover', position: 'centre' })
        .removeAlpha()
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
    } else {
      throw new UserError(`resize policy "${String(resize)}" is unknown; use one of ${RESIZE_POLICIES.join(', ')}`);
    }
    if (out.info.channels !== 3 || out.info.width !== size || out.info.height !== size) {
      throw new Error(`decoded to ${out.info.width}x${out.info.height}x${out.info.channels}`);
    }
    return new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const msg = (e as Error).message.split('\n')[0];
    throw new UserError(`${absPath}: cannot decode image (${msg}); remove or replace the file and re-run plastisort data split`);
  }
}

export interface AugmentOptions {
  /** Probability of a horizontal flip. */
  flipProbability: number;
  /** Rotation drawn uniformly from ±maxRotationDeg degrees. */
  maxRotationDeg: number;
  /** Zoom factor drawn uniformly from [min, max]; > 1 zooms in (crops), < 1 zooms out. */
  zoomRange: [number, number];
  /** Brightness factor drawn uniformly from 1 ± brightness. */
  brightness: number;
  /** How pixels sampled from outside the image are filled. */
  fill: 'reflect' | 'nearest';
}

export const DEFAULT_AUGMENT: Readonly<AugmentOptions> = Object.freeze({
  flipProbability: 0.5,
  maxRotationDeg: 15,
  zoomRange: [0.9, 1.15] as [number, number],
  brightness: 0.2,
  fill: 'reflect' as const,
});

export interface AugmentParams {
  flip: boolean;
  rotationDeg: number;
  zoom: number;
  brightness: number;
}

/**
 * Draws one set of augmentation parameters. Always consumes exactly four rng values, whatever the
 * options, so a training run's sequence does not shift when an option is switched off.
 */
export function drawAugmentParams(rng: () => number, opts: Readonly<AugmentOptions> = DEFAULT_AUGMENT): AugmentParams {
  const u0 = rng();
  const u1 = rng();
  const u2 = rng();
  const u3 = rng();
  const [zMin, zMax] = opts.zoomRange;
  return {
    flip: u0 < opts.flipProbability,
    rotationDeg: (u1 * 2 - 1) * opts.maxRotationDeg,
    zoom: zMin + u2 * (zMax - zMin),
    brightness: 1 + (u3 * 2 - 1) * opts.brightness,
  };
}

function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - m;
}

/**
 * Applies fixed augmentation parameters to a `size × size × 3` image: flip, rotation about the
 * centre and zoom (one inverse affine map, bilinear sampling), then brightness. Returns a new buffer.
 */
export function applyAugment(rgb: Uint8Array, size: number, p: AugmentParams, fill: AugmentOptions['fill'] = 'reflect'): Uint8Array {
  if (rgb.length !== size * size * 3) throw new Error(`applyAugment: expected ${size * size * 3} bytes, got ${rgb.length}`);
  const out = new Uint8Array(rgb.length);
  const theta = (p.rotationDeg * Math.PI) / 180;
  // Inverse map: output pixel → source pixel. Rotation by -theta, scale by 1/zoom, flip in x.
  const cos = Math.cos(theta) / p.zoom;
  const sin = Math.sin(theta) / p.zoom;
  const c = (size - 1) / 2;
  const last = size - 1;
  const clampIdx =
    fill === 'reflect' ? (i: number) => reflectIndex(i, size) : (i: number) => (i < 0 ? 0 : i > last ? last : i);
  const gain = p.brightness;
  for (let y = 0; y < size; y++) {
    const dy = y - c;
    for (let x = 0; x < size; x++) {
      const dx0 = x - c;
      const dx = p.flip ? -dx0 : dx0;
      const sx = cos * dx + sin * dy + c;
      const sy = -sin * dx + cos * dy + c;
      const x0f = Math.floor(sx);
      const y0f = Math.floor(sy);
      const fx = sx - x0f;
      const fy = sy - y0f;
      const x0 = clampIdx(x0f);
      const x1 = clampIdx(x0f + 1);
      const y0 = clampIdx(y0f);
      const y1 = clampIdx(y0f + 1);
      const i00 = (y0 * size + x0) * 3;
      const i01 = (y0 * size + x1) * 3;
      const i10 = (y1 * size + x0) * 3;
      const i11 = (y1 * size + x1) * 3;
      const w00 = (1 - fx) * (1 - fy);
      const w01 = fx * (1 - fy);
      const w10 = (1 - fx) * fy;
      const w11 = fx * fy;
      const o = (y * size + x) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const v = (rgb[i00 + ch]! * w00 + rgb[i01 + ch]! * w01 + rgb[i10 + ch]! * w10 + rgb[i11 + ch]! * w11) * gain;
        out[o + ch] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
      }
    }
  }
  return out;
}

/**
 * Random augmentation as the trainer uses it: horizontal flip, rotation (±15°), zoom (0.9–1.15) and
 * brightness (±20%) by default. Deterministic for the same rng state; consumes four rng values.
 */
export function augmentRgb(rgb: Uint8Array, size: number, rng: () => number, opts: Partial<AugmentOptions> = {}): Uint8Array {
  const o: AugmentOptions = { ...DEFAULT_AUGMENT, ...opts };
  return applyAugment(rgb, size, drawAugmentParams(rng, o), o.fill);
}

/** Absolute path of a manifest item's image (`manifest.root` is absolute once read by readManifest). */
export function manifestItemPath(manifest: SplitManifest, item: ManifestItem): string {
  return resolve(manifest.root, ...item.path.split('/'));
}
