/**
 * A tiny real run on synthetic images at input 160 with the nsfwjs MobileNetV2 (the backbone that ships
 * in node_modules): the baseline must learn a visually separable two-class task above chance, the run
 * folder must load as a Predictor that reproduces it, and fine-tuning must change only the unfrozen tail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadImageRgb, manifestItemPath } from '../../host/data/images.ts';
import { readManifest } from '../../host/data/manifest-io.ts';
import { loadBackbone, type LoadedBackbone } from '../../host/train/backbones.ts';
import { createRunPredictor, loadRun, type RunConfig } from '../../host/train/run-folder.ts';
import { FINETUNE_PRESETS, finetuneRun, trainBaseline, type TrainResult } from '../../host/train/trainer.ts';
import { removeTempDirs, synthManifest, tempDir } from './fixtures.ts';

afterAll(removeTempDirs);

describe('train and finetune end to end (synthetic, input 160)', () => {
  let fx: Awaited<ReturnType<typeof synthManifest>>;
  let backbone: LoadedBackbone;
  let base: TrainResult;
  let out: string;
  let cacheRoot: string;

  beforeAll(async () => {
    // 160 px: at 96 px the thin synthetic objects among distractors are too small for frozen features.
    fx = await synthManifest(['pet_bottle', 'straw'], 30, { size: 160 });
    backbone = await loadBackbone('nsfwjs');
    out = tempDir('runs');
    cacheRoot = join(out, 'cache');
    base = await trainBaseline({
      manifest: fx.manifest,
      out: join(out, 'baseline'),
      loadedBackbone: backbone,
      inputSize: 160,
      epochs: 30,
      patience: 30,
      batchSize: 8,
      views: 2,
      lr: 1e-2,
      // No dropout: with seeded views, shuffling and head initialisation the run is then deterministic,
      // so the threshold below cannot flake.
      dropout: 0,
      cacheRoot,
    });
  });

  it('writes the run folder of docs/artifacts.md', () => {
    for (const f of ['model/model.json', 'model/weights.bin', 'config.json', 'history.json', 'metrics.json']) {
      expect(existsSync(join(out, 'baseline', f)), f).toBe(true);
    }
    const config = JSON.parse(readFileSync(join(out, 'baseline', 'config.json'), 'utf8')) as RunConfig;
    expect(config.stage).toBe('baseline');
    expect(config.classes).toEqual(['pet_bottle', 'straw']);
    expect(config.backbone.kind).toBe('nsfwjs');
    expect(config.backbone.fallback).toBe(true);
    expect(config.floatScaling).toEqual({ scale: 1 / 255, offset: 0 });
    expect(config.inputSize).toBe(160);
    const topo = JSON.parse(readFileSync(join(out, 'baseline', 'model', 'model.json'), 'utf8'));
    const names = topo.modelTopology.config.layers.map((l: { name: string }) => l.name);
    expect(names.slice(-3)).toEqual(['global_average_pooling2d', 'dropout', 'predictions']);
    expect(names).toContain('block_12_add');
    const history = JSON.parse(readFileSync(join(out, 'baseline', 'history.json'), 'utf8'));
    expect(history.epochs.length).toBeGreaterThan(0);
    expect(history.bestEpoch).toBeGreaterThan(0);
  });

  it('learns the separable task above chance, and the saved model reproduces it', async () => {
    const lastTrainAcc = base.history.epochs[base.history.epochs.length - 1].accuracy;
    expect(lastTrainAcc).toBeGreaterThan(0.75);
    const { manifest } = await readManifest(fx.manifest);
    const predictor = await createRunPredictor(join(out, 'baseline'));
    const heldOut = manifest.items.filter((it) => it.split !== 'train');
    const images = await Promise.all(heldOut.map((it) => loadImageRgb(manifestItemPath(manifest, it), 160, predictor.resize)));
    const scores = await predictor.predict(images);
    const predicted = scores.map((s) => (s[1] > s[0] ? 1 : 0));
    const correct = predicted.filter((p, i) => p === heldOut[i].label).length;
    // 30 held-out images of two classes, chance 15. The run is deterministic and gets 20 here (nsfwjs
    // features at 160 px on drawn objects among distractors are weak); 18 leaves a margin for float
    // differences between machines.
    console.log(`end-to-end: ${correct}/${heldOut.length} held-out images correct`);
    expect(correct).toBeGreaterThanOrEqual(18);
    // The saved model gives the same test predictions as the in-memory head that metrics.json came from.
    const testIdx = heldOut.map((it, i) => (it.split === 'test' ? i : -1)).filter((i) => i >= 0);
    const testCorrect = testIdx.filter((i) => predicted[i] === heldOut[i].label).length;
    expect(testCorrect / testIdx.length).toBeCloseTo(base.metrics.accuracy, 5);
    for (const s of scores) expect(s[0] + s[1]).toBeCloseTo(1, 4);
  });

  it('fine-tunes only the tail after the boundary', async () => {
    const ft = await finetuneRun({
      from: join(out, 'baseline'),
      out: join(out, 'finetuned'),
      unfreezeFrom: 'block_16_expand',
      epochs: 1,
      views: 1,
      batchSize: 8,
      lr: 1e-3,
      cacheRoot,
    });
    expect(ft.config.stage).toBe('finetune');
    expect(ft.config.parent?.runId).toBe('baseline');
    expect(ft.config.hyper.boundary).toBe('block_15_add');
    const a = await loadRun(join(out, 'baseline'));
    const b = await loadRun(join(out, 'finetuned'));
    const w = (m: tf.LayersModel, layer: string) => m.getLayer(layer).getWeights()[0].dataSync();
    expect(Array.from(w(b.model, 'block_15_project'))).toEqual(Array.from(w(a.model, 'block_15_project')));
    expect(Array.from(w(b.model, 'block_16_expand'))).not.toEqual(Array.from(w(a.model, 'block_16_expand')));
    expect(Array.from(w(b.model, 'predictions'))).not.toEqual(Array.from(w(a.model, 'predictions')));
  });

  it('fine-tuning from block_13_expand reuses the baseline\'s block_12_add cache', async () => {
    const ft = await finetuneRun({ from: join(out, 'baseline'), out: join(out, 'ft13'), epochs: 1, views: 2, batchSize: 8, cacheRoot });
    expect(ft.config.hyper.boundary).toBe('block_12_add');
    expect(ft.features.fromCache).toBe(true);
  });

  it('fine-tunes with the full recipe by default and the earlier one with preset fast', async () => {
    const full = await finetuneRun({ from: join(out, 'baseline'), out: join(out, 'ft-full'), epochs: 1, views: 2, batchSize: 8, cacheRoot });
    const r = FINETUNE_PRESETS.full;
    expect(full.config.hyper).toMatchObject({
      learningRate: r.lr,
      weightDecay: r.weightDecay,
      layerDecay: r.layerDecay,
      schedule: r.schedule,
      warmupEpochs: r.warmupEpochs,
      mixup: r.mixup,
      labelSmoothing: r.labelSmoothing,
    });
    const fast = await finetuneRun({ from: join(out, 'baseline'), out: join(out, 'ft-fast'), preset: 'fast', epochs: 1, views: 2, batchSize: 8, cacheRoot });
    expect(fast.config.hyper).toMatchObject({ optimizer: 'adam', learningRate: 1e-4, weightDecay: 0, layerDecay: 1, schedule: 'constant', mixup: 0 });
    const msg = await finetuneRun({ from: join(out, 'baseline'), out: join(out, 'ft-x'), preset: 'slow' as 'fast', cacheRoot }).then(
      () => '',
      (e: Error) => e.message,
    );
    expect(msg).toContain('--preset slow is unknown');
  });
});
