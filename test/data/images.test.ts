import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createRng } from '../../host/util/rng.ts';
import {
  applyAugment,
  augmentRgb,
  DEFAULT_AUGMENT,
  drawAugmentParams,
  loadImageRgb,
  manifestItemPath,
} from '../../host/data/images.ts';
import { UserError } from '../../host/util/errors.ts';
import type { SplitManifest, ManifestItem } from '../../host/data/manifest.ts';

let dir = '';

/** A 40×20 image: left half red, right half blue. */
async function halfHalf(path: string, format: 'png' | 'jpeg' = 'png'): Promise<void> {
  const w = 40;
  const h = 20;
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      if (x < w / 2) px[o] = 255;
      else px[o + 2] = 255;
    }
  const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
  await (format === 'png' ? img.png() : img.jpeg({ quality: 95 })).toFile(path);
}

function pixel(rgb: Uint8Array, size: number, x: number, y: number): number[] {
  const o = (y * size + x) * 3;
  return [rgb[o]!, rgb[o + 1]!, rgb[o + 2]!];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'plastisort-images-'));
  await halfHalf(join(dir, 'hh.png'));
  // Fully transparent RGBA with black colour values: flattening on white must give white.
  await sharp({ create: { width: 10, height: 10, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .png()
    .toFile(join(dir, 'alpha.png'));
  await sharp({ create: { width: 12, height: 12, channels: 3, background: { r: 90, g: 90, b: 90 } } })
    .greyscale()
    .png()
    .toFile(join(dir, 'grey.png'));
  // Stored 20 wide × 40 tall, with EXIF orientation 6 (rotate 90° CW to display): displays 40×20.
  const tall = await sharp(join(dir, 'hh.png')).rotate(-90).png().toBuffer();
  await sharp(tall).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toFile(join(dir, 'exif.jpg'));
  await writeFile(join(dir, 'broken.png'), 'not an image');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadImageRgb', () => {
  it('squash keeps both halves; center-crop keeps the centre', async () => {
    const sq = await loadImageRgb(join(dir, 'hh.png'), 32, 'squash');
    expect(sq.length).toBe(32 * 32 * 3);
    expect(pixel(sq, 32, 2, 16)[0]).toBeGreaterThan(200);
    expect(pixel(sq, 32, 29, 16)[2]).toBeGreaterThan(200);
    const cc = await loadImageRgb(join(dir, 'hh.png'), 20, 'center-crop');
    expect(cc.length).toBe(20 * 20 * 3);
    // The central 20×20 square spans x = 10..29: still red on the left, blue on the right.
    expect(pixel(cc, 20, 1, 10)[0]).toBeGreaterThan(200);
    expect(pixel(cc, 20, 18, 10)[2]).toBeGreaterThan(200);
    const again = await loadImageRgb(join(dir, 'hh.png'), 32, 'squash');
    expect(Buffer.from(again).equals(Buffer.from(sq))).toBe(true);
  });

  it('flattens alpha on white and expands greyscale to RGB', async () => {
    const a = await loadImageRgb(join(dir, 'alpha.png'), 8, 'squash');
    expect(pixel(a, 8, 4, 4)).toEqual([255, 255, 255]);
    const g = await loadImageRgb(join(dir, 'grey.png'), 8, 'center-crop');
    expect(g.length).toBe(8 * 8 * 3);
    const [r, gg, b] = pixel(g, 8, 3, 3);
    expect(r).toBe(gg);
    expect(gg).toBe(b);
  });

  it('applies EXIF orientation', async () => {
    const e = await loadImageRgb(join(dir, 'exif.jpg'), 32, 'squash');
    expect(pixel(e, 32, 2, 16)[0]).toBeGreaterThan(180);
    expect(pixel(e, 32, 29, 16)[2]).toBeGreaterThan(180);
  });

  it('throws a UserError naming the file when it cannot decode', async () => {
    const p = join(dir, 'broken.png');
    await expect(loadImageRgb(p, 8, 'squash')).rejects.toThrow(UserError);
    await expect(loadImageRgb(p, 8, 'squash')).rejects.toThrow(p);
    await expect(loadImageRgb(join(dir, 'missing.png'), 8, 'squash')).rejects.toThrow(/missing\.png/);
  });
});

describe('augmentation', () => {
  const size = 24;
  const img = new Uint8Array(size * size * 3);
  for (let i = 0; i < img.length; i++) img[i] = (i * 37 + (i >> 5)) & 255;

  it('identity parameters return the image unchanged', () => {
    const out = applyAugment(img, size, { flip: false, rotationDeg: 0, zoom: 1, brightness: 1 });
    expect(Buffer.from(out).equals(Buffer.from(img))).toBe(true);
  });

  it('a flip mirrors columns exactly', () => {
    const out = applyAugment(img, size, { flip: true, rotationDeg: 0, zoom: 1, brightness: 1 });
    expect(pixel(out, size, 0, 5)).toEqual(pixel(img, size, size - 1, 5));
    expect(pixel(out, size, 7, 9)).toEqual(pixel(img, size, size - 8, 9));
  });

  it('brightness scales and saturates', () => {
    const out = applyAugment(img, size, { flip: false, rotationDeg: 0, zoom: 1, brightness: 1.2 });
    for (let i = 0; i < img.length; i += 97) expect(out[i]).toBe(Math.min(255, Math.round(img[i]! * 1.2)));
  });

  it('is deterministic for the same seed and differs across draws', () => {
    const a = augmentRgb(img, size, createRng(7));
    const b = augmentRgb(img, size, createRng(7));
    expect(a.length).toBe(size * size * 3);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const rng = createRng(7);
    const first = augmentRgb(img, size, rng);
    const second = augmentRgb(img, size, rng);
    expect(Buffer.from(first).equals(Buffer.from(second))).toBe(false);
  });

  it('draws parameters inside the documented ranges', () => {
    const rng = createRng(1);
    let flips = 0;
    for (let i = 0; i < 400; i++) {
      const p = drawAugmentParams(rng);
      expect(Math.abs(p.rotationDeg)).toBeLessThanOrEqual(DEFAULT_AUGMENT.maxRotationDeg);
      expect(p.zoom).toBeGreaterThanOrEqual(0.9);
      expect(p.zoom).toBeLessThanOrEqual(1.15);
      expect(Math.abs(p.brightness - 1)).toBeLessThanOrEqual(0.2);
      if (p.flip) flips++;
    }
    expect(flips).toBeGreaterThan(150);
    expect(flips).toBeLessThan(250);
  });
});

describe('manifestItemPath', () => {
  it('joins the root and the forward-slash relative path', () => {
    const m = { root: '/data/set' } as SplitManifest;
    const item = { path: 'cup/default/a.png' } as ManifestItem;
    expect(manifestItemPath(m, item)).toBe(join('/data/set', 'cup', 'default', 'a.png'));
  });
});
