import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { saveModel } from '../../host/train/run-folder.ts';
import { quantizeRun, reportPathFor, selectCalibrationItems } from '../../host/quantize/quantize-run.ts';
import { readTflite } from '../../host/tflite/reader.ts';
import { getPlastisortMetadata } from '../../host/tflite/plastisort-metadata.ts';
import type { SplitManifest, ManifestItem, SplitName } from '../../host/data/manifest.ts';
import { randomImages, tinyClassifier } from './models.ts';

const SIZE = 16;
const CLASSES = ['pet', 'hdpe', 'pp'];
let dir: string;

function manifestFor(classes: string[], perClass: { train: number; val: number }): SplitManifest {
  const items: ManifestItem[] = [];
  const counts: SplitManifest['counts'] = {};
  classes.forEach((c, label) => {
    counts[c] = { train: 0, val: 0, test: 0 };
    for (const split of ['train', 'val'] as SplitName[]) {
      for (let i = 0; i < perClass[split as 'train' | 'val']; i++) {
        items.push({
          path: `${c}/${split}_${i}.png`, sha256: '0'.repeat(64), fileSha256: '0'.repeat(64), phash: '00', width: 20, height: 20,
          class: c, label, split, source: '', group: items.length,
        });
        counts[c]![split]++;
      }
    }
  });
  return {
    schema: 'plastisort.split-manifest/1', root: join(dir, 'images'), classes, seed: 1, ratios: { train: 70, val: 15, test: 15 },
    dedup: { phashBits: 64, maxHamming: 4 }, items, counts, dropped: [], conflicts: [], duplicateGroups: 0,
  };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'plastisort-quantize-'));
  const manifest = manifestFor(CLASSES, { train: 5, val: 3 });
  const pixels = randomImages(manifest.items.length, 20, 8);
  for (const [i, it] of manifest.items.entries()) {
    mkdirSync(join(dir, 'images', it.class), { recursive: true });
    await sharp(Buffer.from(pixels[i]!), { raw: { width: 20, height: 20, channels: 3 } }).png().toFile(join(dir, 'images', it.path));
  }
  writeFileSync(join(dir, 'split.json'), JSON.stringify(manifest));
  writeFileSync(join(dir, 'other-split.json'), JSON.stringify(manifestFor(['pet', 'glass', 'pp'], { train: 2, val: 1 })));
  const runDir = join(dir, 'run');
  await saveModel(tinyClassifier({ size: SIZE, batchNorm: false, classes: CLASSES.length }), join(runDir, 'model'));
  writeFileSync(
    join(runDir, 'config.json'),
    JSON.stringify({
      schema: 'plastisort.run/1', runId: 'tiny-run', stage: 'baseline', createdAt: '2026-01-01T00:00:00Z', classes: CLASSES,
      manifest: { path: join(dir, 'split.json'), sha256: 'x' }, backbone: { kind: 'tfjs', source: 'test', sha256: 'x' },
      inputSize: SIZE, resize: 'squash', floatScaling: { scale: 1 / 127.5, offset: -1 }, hyper: {}, backend: { name: 'cpu', threads: 1 },
      bestEpoch: 1, timings: {},
    }),
  );
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('plastisort quantize RUN', () => {
  it('picks calibration images from the training split, balanced over classes', () => {
    const m = manifestFor(CLASSES, { train: 5, val: 3 });
    const seven = selectCalibrationItems(m, 7, 1);
    expect(seven.every((it) => it.split === 'train')).toBe(true);
    const perClass = CLASSES.map((c) => seven.filter((it) => it.class === c).length);
    expect(Math.max(...perClass) - Math.min(...perClass)).toBeLessThanOrEqual(1);
    expect(selectCalibrationItems(m, 100, 1)).toHaveLength(15);
    expect(selectCalibrationItems(m, 7, 1)).toEqual(seven);
    expect(selectCalibrationItems(m, 7, 2)).not.toEqual(seven);
  });

  it('writes the .tflite and its report from a run folder', async () => {
    const out = join(dir, 'out', 'tiny.tflite');
    const r = await quantizeRun(join(dir, 'run'), { out, calib: 6, method: 'auto', seed: 3 });
    expect(existsSync(out)).toBe(true);
    const report = JSON.parse(readFileSync(reportPathFor(out), 'utf8'));
    expect(report.schema).toBe('plastisort.quantize-report/1');
    expect(report.calibrationPerClass).toEqual({ pet: 2, hdpe: 2, pp: 2 });
    expect(report.validation.images).toBe(9);
    expect(report.candidates).toHaveLength(3);
    expect(r.method).toBe(report.method);
    const model = readTflite(new Uint8Array(readFileSync(out)));
    expect(getPlastisortMetadata(model)).toMatchObject({ labels: CLASSES, runId: 'tiny-run', inputContract: 'rgb888_minus_128', resize: 'squash' });
  });

  it('biasQuantParams: false leaves convolution biases without quantization params, FULLY_CONNECTED keeps its own', async () => {
    const verbose = join(dir, 'out', 'verbose.tflite');
    const compact = join(dir, 'out', 'compact.tflite');
    const a = await quantizeRun(join(dir, 'run'), { out: verbose, calib: 6, method: 'minmax', seed: 3, val: 0 });
    const b = await quantizeRun(join(dir, 'run'), { out: compact, calib: 6, method: 'minmax', seed: 3, val: 0, biasQuantParams: false });
    expect(a.sizes.biasQuantParams).toBe(true);
    expect(b.sizes.biasQuantParams).toBe(false);
    expect(readFileSync(compact).byteLength).toBeLessThan(readFileSync(verbose).byteLength);
    expect(b.sizes.tfliteBytes).toBe(readFileSync(compact).byteLength);
    const m = readTflite(new Uint8Array(readFileSync(compact)));
    const biasOf = (kind: string) => m.operators.filter((op) => op.op === kind).map((op) => m.tensors[op.inputs[2]!]!);
    expect(biasOf('CONV_2D').length).toBeGreaterThan(0);
    for (const t of [...biasOf('CONV_2D'), ...biasOf('DEPTHWISE_CONV_2D')]) expect(t.quantization?.scale.length ?? 0).toBe(0);
    for (const t of biasOf('FULLY_CONNECTED')) expect(t.quantization?.scale.length).toBeGreaterThan(0);
  });

  it('refuses a calibration manifest with another class list', async () => {
    await expect(
      quantizeRun(join(dir, 'run'), { out: join(dir, 'out', 'bad.tflite'), manifest: join(dir, 'other-split.json'), calib: 3, method: 'minmax', seed: 1 }),
    ).rejects.toThrow(/lists classes \[pet, glass, pp\] but run .* was trained on \[pet, hdpe, pp\]/);
    expect(existsSync(join(dir, 'out', 'bad.tflite'))).toBe(false);
  });
});
