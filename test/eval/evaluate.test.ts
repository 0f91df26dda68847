import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { ManifestItem, SplitManifest } from '../../host/data/manifest.ts';
import { evaluatePredictor, predictionAgreement, readPredictionsFile, writeEvaluation } from '../../host/eval/evaluate.ts';
import { renderErrorGallery } from '../../host/eval/error-gallery.ts';
import { metricsProblem } from '../../host/shared/metrics.ts';
import type { Predictor } from '../../host/shared/predictor.ts';

const classes = ['red', 'green', 'blue'];
const colours: Record<string, [number, number, number]> = { red: [220, 30, 30], green: [30, 200, 40], blue: [20, 40, 230] };
let root: string;
let manifest: SplitManifest;

/**
 * Test items: per class, 4 test images of its own colour, except that green's last test image is
 * painted blue (so a colour classifier gets it wrong), plus 1 train image each.
 */
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'plastisort-eval-'));
  const items: ManifestItem[] = [];
  let group = 0;
  for (const [label, cls] of classes.entries()) {
    await mkdir(join(root, cls), { recursive: true });
    for (let i = 0; i < 5; i++) {
      const split = i < 4 ? 'test' : 'train';
      const paint = cls === 'green' && i === 3 ? colours.blue! : colours[cls]!;
      const file = `${cls}/img${i}.png`;
      // non-square, so the resize policy matters
      await sharp({ create: { width: 40 + i * 7, height: 30, channels: 3, background: { r: paint[0], g: paint[1], b: paint[2] } } })
        .png()
        .toFile(join(root, file));
      items.push({
        path: file,
        sha256: '0'.repeat(64),
        fileSha256: '0'.repeat(64),
        phash: '0'.repeat(16),
        width: 40 + i * 7,
        height: 30,
        class: cls,
        label,
        split,
        source: '',
        group: group++,
      });
    }
  }
  manifest = {
    schema: 'plastisort.split-manifest/1',
    root,
    classes,
    seed: 1,
    ratios: { train: 20, val: 0, test: 80 },
    dedup: { phashBits: 64, maxHamming: 0 },
    items,
    counts: Object.fromEntries(classes.map((c) => [c, { train: 1, val: 0, test: 4 }])),
    dropped: [],
    conflicts: [],
    duplicateGroups: 0,
  };
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

/** Classifies by the dominant channel of the image it is given; records every batch it saw. */
function colourPredictor(inputSize = 8, classOrder = classes): Predictor & { batches: number[] } {
  const batches: number[] = [];
  return {
    classes: classOrder,
    inputSize,
    resize: 'squash',
    batches,
    async predict(images) {
      batches.push(images.length);
      return images.map((img) => {
        expect(img.length).toBe(inputSize * inputSize * 3);
        const sum = [0, 0, 0];
        for (let i = 0; i < img.length; i++) sum[i % 3]! += img[i]!;
        const total = sum[0]! + sum[1]! + sum[2]!;
        return Float32Array.from(sum.map((s) => s / total));
      });
    },
  };
}

describe('evaluatePredictor', () => {
  it('scores a predictor over the split in batches and returns per-item predictions', async () => {
    const p = colourPredictor(8);
    const { metrics, predictions } = await evaluatePredictor(p, manifest, 'test', { batchSize: 5, bootstrap: 50, seed: 3 });
    expect(p.batches).toEqual([5, 5, 2]);
    expect(predictions).toHaveLength(12);
    expect(predictions.every((x) => !x.path.includes('img4'))).toBe(true); // train items excluded
    const wrong = predictions.filter((x) => x.predicted !== x.label);
    expect(wrong.map((x) => x.path)).toEqual(['green/img3.png']);
    expect(wrong[0]!.predicted).toBe(2);
    expect(metrics.confusion).toEqual([
      [4, 0, 0],
      [0, 3, 1],
      [0, 0, 4],
    ]);
    expect(metrics.accuracy).toBeCloseTo(11 / 12, 12);
    expect(metrics.split).toBe('test');
    expect(metrics.bootstrap!.resamples).toBe(50);
    expect(predictions[0]!.scores).toHaveLength(3);
  });

  it('honours limit and refuses another class list or an empty split', async () => {
    const { predictions } = await evaluatePredictor(colourPredictor(), manifest, 'test', { limit: 2, bootstrap: 0 });
    expect(predictions).toHaveLength(2);
    await expect(evaluatePredictor(colourPredictor(8, ['blue', 'green', 'red']), manifest, 'test')).rejects.toThrow(
      /predicts classes \[blue, green, red\] but the manifest has \[red, green, blue\]/,
    );
    await expect(evaluatePredictor(colourPredictor(), manifest, 'val')).rejects.toThrow(/no items in split "val"/);
  });

  it('writes metrics.json, metrics.md, predictions.json and the confusion plot', async () => {
    const out = join(root, 'out');
    const result = await evaluatePredictor(colourPredictor(), manifest, 'test', {
      bootstrap: 20,
      manifestPath: 'split.json',
      manifestSha256: 'ab'.repeat(32),
      source: { kind: 'other', path: 'colour-rule' },
    });
    const files = await writeEvaluation(out, result, { title: 'Colour rule' });
    const metrics = JSON.parse(readFileSync(files.metrics, 'utf8'));
    expect(metricsProblem(metrics)).toBeUndefined();
    expect(metrics.manifest).toEqual({ path: 'split.json', sha256: 'ab'.repeat(32) });
    expect(readFileSync(files.markdown, 'utf8')).toContain('| green | 1.00 | 0.75 | 0.86 | 4 |');
    expect(existsSync(join(out, 'confusion.svg')) && existsSync(join(out, 'confusion.png'))).toBe(true);
    expect((await sharp(join(out, 'confusion.png')).metadata()).format).toBe('png');
    const pred = await readPredictionsFile(files.predictions);
    expect(pred!.items).toHaveLength(12);
    expect(pred!.manifestSha256).toBe('ab'.repeat(32));
    // agreement with itself and with a predictor that always says "red"
    expect(predictionAgreement(result.predictions, pred!.items, 'self').top1).toBe(1);
    const allRed = pred!.items.map((x) => ({ ...x, predicted: 0 }));
    expect(predictionAgreement(result.predictions, allRed, 'red').top1).toBeCloseTo(4 / 12, 12);
    expect(() => predictionAgreement(result.predictions, [], 'none')).toThrow(/no image in common/);
  });
});

describe('misclassified images (errors.png)', () => {
  /** The RGB of the pixel at the centre of gallery tile i (tile 128, gap 4, 6 columns, caption 36). */
  async function tileCentre(png: Buffer, i: number): Promise<number[]> {
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const x = 4 + (i % 6) * 132 + 64;
    const y = 4 + Math.floor(i / 6) * 168 + 64;
    const at = (y * info.width + x) * info.channels;
    return [data[at]!, data[at + 1]!, data[at + 2]!];
  }

  it('draws the one mistake, names it in metrics.md, and removes a stale gallery when none is left', async () => {
    const out = join(root, 'out-errors');
    const result = await evaluatePredictor(colourPredictor(), manifest, 'test', { bootstrap: 0 });
    const files = await writeEvaluation(out, result, { errors: { manifest } });
    expect(files.errors).toBe(join(out, 'errors.png'));
    const png = readFileSync(files.errors!);
    expect(await sharp(png).metadata()).toMatchObject({ format: 'png', width: 4 + 132, height: 4 + 168 });
    // green/img3 is painted blue: the tile shows that photo.
    const [r, g, b] = await tileCentre(png, 0);
    expect(b).toBeGreaterThan(200);
    expect(r! + g!).toBeLessThan(100);
    expect(readFileSync(files.markdown, 'utf8')).toContain('All 1 misclassified images');

    // Relabel so that nothing is wrong: the old gallery must not outlive its evaluation.
    const right = { ...result, predictions: result.predictions.map((p) => ({ ...p, predicted: p.label })) };
    const again = await writeEvaluation(out, right, { errors: { manifest } });
    expect(again.errors).toBeUndefined();
    expect(existsSync(join(out, 'errors.png'))).toBe(false);
    expect(readFileSync(again.markdown, 'utf8')).toMatch(/None: every image was classified as labelled/);
  });

  it('orders by true class, then the most confident mistake first, and caps the count', async () => {
    // Every test image predicted as the next class; confidence rises with the image number.
    const predictions = manifest.items
      .filter((it) => it.split === 'test')
      .map((it, k) => {
        const predicted = (it.label + 1) % 3;
        const scores = [0, 0, 0];
        scores[predicted] = 0.4 + 0.05 * (k % 4);
        return { path: it.path, label: it.label, predicted, scores };
      });
    const all = await renderErrorGallery(manifest, predictions);
    expect(all).toMatchObject({ shown: 12, total: 12 });
    // Row 1: red's images img3, img2, img1, img0 (most confident first), then green's img3 (blue paint) and img2.
    expect((await tileCentre(all!.png, 0))[0]).toBeGreaterThan(200);
    expect((await tileCentre(all!.png, 4))[2]).toBeGreaterThan(200);
    expect((await tileCentre(all!.png, 5))[1]).toBeGreaterThan(180);
    const capped = await renderErrorGallery(manifest, predictions, { max: 5 });
    expect(capped).toMatchObject({ shown: 5, total: 12 });
    expect((await sharp(capped!.png).metadata()).width).toBe(4 + 5 * 132);
    expect(await renderErrorGallery(manifest, predictions, { max: 0 })).toBeUndefined();
    const out = join(root, 'out-capped');
    const files = await writeEvaluation(out, { ...(await evaluatePredictor(colourPredictor(), manifest, 'test', { bootstrap: 0 })), predictions }, { errors: { manifest, max: 5 } });
    expect(readFileSync(files.markdown, 'utf8')).toContain('5 of the 12 misclassified images');
  });
});
