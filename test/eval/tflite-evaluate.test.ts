/**
 * `plastisort evaluate FILE.tflite` end to end: a tiny float run (pooling → dense) is quantized with the
 * project's quantizer, then evaluated through LiteRT with the int8 input contract, with top-1 agreement
 * against the float run (found through the model's metadata, or given with floatRun).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import type { ManifestItem } from '../../host/data/manifest.ts';
import { writeManifest } from '../../host/data/manifest-io.ts';
import { runEvaluate } from '../../host/eval/run-evaluate.ts';
import { loadTflitePredictor } from '../../host/eval/tflite-predictor.ts';
import { quantizeRun } from '../../host/quantize/quantize-run.ts';
import { initBackend } from '../../host/train/backend.ts';
import { saveModel } from '../../host/train/run-folder.ts';

const classes = ['red', 'green', 'blue'];
let root: string;
let run: string;
let tflite: string;

beforeAll(async () => {
  process.env.PLASTISORT_QUIET = '1';
  root = mkdtempSync(join(tmpdir(), 'plastisort-tflite-eval-'));
  let s = 3;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const items: ManifestItem[] = [];
  for (const [label, cls] of classes.entries()) {
    mkdirSync(join(root, 'data', cls), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const c = [40, 40, 40];
      c[label] = 120 + Math.floor(rand() * 120);
      c[(label + 1) % 3]! += Math.floor(rand() * 100);
      const rel = `${cls}/${i}.png`;
      await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: c[0]!, g: c[1]!, b: c[2]! } } }).png().toFile(join(root, 'data', rel));
      const sha = createHash('sha256').update(readFileSync(join(root, 'data', rel))).digest('hex');
      const split = i < 6 ? 'train' : i < 8 ? 'val' : 'test';
      items.push({ path: rel, sha256: sha, fileSha256: sha, phash: 'ff', width: 16, height: 16, class: cls, label, split, source: '', group: items.length });
    }
  }
  const counts = Object.fromEntries(classes.map((c) => [c, { train: 6, val: 2, test: 4 }]));
  const manifestPath = join(root, 'split.json');
  await writeManifest(manifestPath, {
    schema: 'plastisort.split-manifest/1', root: join(root, 'data'), classes, seed: 1, ratios: { train: 50, val: 17, test: 33 },
    dedup: { phashBits: 8, maxHamming: 0 }, items, counts, dropped: [], conflicts: [], duplicateGroups: 0,
  });

  await initBackend();
  const input = tf.input({ shape: [16, 16, 3] });
  const pooled = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(input);
  const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'predictions' }).apply(pooled) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  model.getLayer('predictions').setWeights([tf.tensor2d([[6, -2, -2], [-2, 6, -2], [-2, -2, 6]]), tf.zeros([3])]);
  run = join(root, 'float-run');
  await saveModel(model, join(run, 'model'));
  model.dispose();
  writeFileSync(join(run, 'config.json'), JSON.stringify({
    schema: 'plastisort.run/1', runId: 'float-run', stage: 'finetune', createdAt: '2026-01-01T00:00:00Z', classes,
    manifest: { path: manifestPath, sha256: createHash('sha256').update(readFileSync(manifestPath)).digest('hex') },
    backbone: { kind: 'tfjs', source: 'test', sha256: '0'.repeat(64) }, inputSize: 16, resize: 'squash',
    floatScaling: { scale: 1 / 127.5, offset: -1 }, hyper: {}, backend: { name: 'wasm', threads: 1 }, bestEpoch: 1, timings: {},
  }));
  tflite = join(root, 'model.tflite');
  await quantizeRun(run, { out: tflite, calib: 18, method: 'minmax', seed: 1 });
}, 120_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('evaluate FILE.tflite', () => {
  it('feeds int8 p − 128, scores the split and measures agreement with the float run', async () => {
    const p = await loadTflitePredictor(tflite);
    expect(p.inputType).toBe('int8');
    expect(p.metadata?.inputContract).toBe('rgb888_minus_128');
    expect(p.classes).toEqual(classes);
    p.dispose();

    // float run not evaluated yet: the agreement runs the float model itself and writes nothing into the run
    const r = await runEvaluate({ target: tflite, floatRun: run, bootstrap: 50 });
    expect(existsSync(join(run, 'predictions.json'))).toBe(false);
    expect(r.outDir).toBe(join(root, 'model-eval'));
    expect(r.metrics.n).toBe(12);
    expect(r.metrics.source).toMatchObject({ kind: 'tflite', path: tflite });
    expect(r.metrics.source!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r.metrics.agreement).toMatchObject({ reference: `float run ${run}`, n: 12 });
    const float = await runEvaluate({ target: run, bootstrap: 0 });
    const same = r.predictions.filter((x, i) => x.predicted === float.predictions[i]!.predicted).length;
    expect(r.metrics.agreement!.top1).toBeCloseTo(same / 12, 12);
    // separable colours: the int8 model should be as good as the float one here
    expect(r.metrics.accuracy).toBeGreaterThanOrEqual(float.metrics.accuracy - 1 / 12);
    const saved = JSON.parse(readFileSync(join(r.outDir, 'metrics.json'), 'utf8'));
    expect(saved.agreement.top1).toBe(r.metrics.agreement!.top1);
    expect(readFileSync(join(r.outDir, 'metrics.md'), 'utf8')).toMatch(/Top-1 agreement with float run .*: \d+\.\d\d% of 12 images/);

    // without floatRun: the run is found through the model's metadata (runId) beside the file
    const again = await runEvaluate({ target: tflite, bootstrap: 0, out: join(root, 'again') });
    expect(again.metrics.agreement?.top1).toBe(r.metrics.agreement!.top1);
  }, 120_000);
});
