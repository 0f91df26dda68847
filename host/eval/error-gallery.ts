/**
 * The misclassified images of an evaluation as one picture: on a photo set scraped from the web, whether
 * the remaining errors are a model's weakness or photos that do not show their class (a craft made from a
 * milk jug, a glass jar filed as a deli container) is seen at a glance and not in any table.
 */
import sharp from 'sharp';
import type { OverlayOptions } from 'sharp';
import { manifestTile } from '../data/data-report.ts';
import type { SplitManifest } from '../data/manifest.ts';
import type { Prediction } from './evaluate.ts';

/** Most misclassified images drawn unless told otherwise. */
export const ERROR_GALLERY_MAX = 60;

export interface ErrorGalleryOptions {
  /** Most tiles drawn (default ERROR_GALLERY_MAX); the rest are counted in `total`. */
  max?: number;
  /** Tile side in pixels (default 128). */
  tile?: number;
  /** Tiles per row (default 6). */
  columns?: number;
}

export interface ErrorGallery {
  png: Buffer;
  shown: number;
  /** Misclassified images in all. */
  total: number;
}

const CAPTION_H = 36;

function captionSvg(truth: string, predicted: string, confidence: number, width: number): Buffer {
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${CAPTION_H}">` +
      `<rect width="${width}" height="${CAPTION_H}" fill="#f2f2f2"/>` +
      `<text x="4" y="14" font-family="DejaVu Sans, sans-serif" font-size="11" fill="#222">${esc(truth)}</text>` +
      `<text x="4" y="30" font-family="DejaVu Sans, sans-serif" font-size="11" fill="#b00020">→ ${esc(predicted)} ${confidence.toFixed(2)}</text></svg>`,
  );
}

/**
 * The images whose prediction differs from their label, grouped by true class in class order and, within
 * a class, the most confident mistakes first (those are the likeliest label or content problems).
 * Undefined when there is no mistake.
 */
export async function renderErrorGallery(manifest: SplitManifest, predictions: readonly Prediction[], opts: ErrorGalleryOptions = {}): Promise<ErrorGallery | undefined> {
  const max = opts.max ?? ERROR_GALLERY_MAX;
  const tile = opts.tile ?? 128;
  const columns = opts.columns ?? 6;
  const byPath = new Map(manifest.items.map((it) => [it.path, it]));
  const wrong = predictions
    .filter((p) => p.predicted !== p.label)
    .map((p) => ({ p, confidence: p.scores[p.predicted] ?? 0 }))
    .sort((a, b) => a.p.label - b.p.label || b.confidence - a.confidence || (a.p.path < b.p.path ? -1 : 1));
  if (wrong.length === 0 || max < 1) return undefined;
  const shown = wrong.slice(0, max);
  const gap = 4;
  const cols = Math.min(columns, shown.length);
  const rows = Math.ceil(shown.length / cols);
  const overlays: OverlayOptions[] = [];
  await Promise.all(
    shown.map(async ({ p, confidence }, i) => {
      const item = byPath.get(p.path);
      if (!item) throw new Error(`prediction for ${p.path} has no item in the manifest`);
      const left = gap + (i % cols) * (tile + gap);
      const top = gap + Math.floor(i / cols) * (tile + CAPTION_H + gap);
      overlays.push({ input: await manifestTile(manifest, item, tile), left, top });
      overlays.push({ input: captionSvg(manifest.classes[p.label] ?? String(p.label), manifest.classes[p.predicted] ?? String(p.predicted), confidence, tile), left, top: top + tile });
    }),
  );
  const png = await sharp({
    create: { width: gap + cols * (tile + gap), height: gap + rows * (tile + CAPTION_H + gap), channels: 3, background: { r: 255, g: 255, b: 255 } },
  })
    .composite(overlays)
    .png({ compressionLevel: 9 })
    .toBuffer();
  return { png, shown: shown.length, total: wrong.length };
}
