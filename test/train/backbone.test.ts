/**
 * MobileNetV2 rebuilt under Keras names, BN folding, and weight import from every source. The ImageNet
 * checks need ../shared/backbones/mobilenet_v2_1.0_224_imagenet and skip visibly without it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadImageRgb } from '../../host/data/images.ts';
import { initBackend } from '../../host/train/backend.ts';
import { loadBackbone, SCALING_0_1, SCALING_MINUS1_1 } from '../../host/train/backbones.ts';
import { applyWeights, buildMobileNetV2, foldBatchNorm, tailFrom, truncateAt, type NamedWeights } from '../../host/train/mobilenetv2.ts';
import { toInputTensor } from '../../host/train/run-folder.ts';

const shared = resolve(import.meta.dirname, '../../../shared/backbones/mobilenet_v2_1.0_224_imagenet');
const haveShared = existsSync(join(shared, 'tfjs', 'model.json'));
if (!haveShared) console.warn(`SKIPPED: ImageNet backbone checks (hot dog, .tflite import) — ${shared} is absent`);

beforeAll(async () => {
  await initBackend();
});

describe('MobileNetV2 builder', () => {
  it('has the Keras layer names of the reference model and the plastisort head, for any size 96..224', () => {
    for (const size of [96, 97, 161, 224]) {
      const m = buildMobileNetV2({ inputSize: size, numClasses: 6, dropout: 0.2 });
      const names = m.layers.map((l) => l.name);
      expect(names.slice(-3)).toEqual(['global_average_pooling2d', 'dropout', 'predictions']);
      expect(m.outputs[0].shape).toEqual([null, 6]);
      expect((m.getLayer('out_relu').getOutputAt(0) as tf.SymbolicTensor).shape[3]).toBe(1280);
      if (haveShared) {
        const ref = JSON.parse(readFileSync(join(shared, 'tfjs', 'model.json'), 'utf8'));
        const refNames = ref.modelTopology.config.layers.map((l: { name: string }) => l.name).filter((n: string) => n !== 'input_1');
        expect(names.filter((n) => n !== 'input_1' && n !== 'dropout')).toEqual(refNames);
      }
      m.dispose();
    }
  });

  it('tail after a boundary computes the same as the whole model', () => {
    const m = buildMobileNetV2({ inputSize: 96, numClasses: 3, dropout: 0 });
    const x = tf.randomUniform([2, 96, 96, 3], -1, 1);
    const full = (m.predict(x) as tf.Tensor).dataSync();
    const mid = truncateAt(m, 'block_12_add').predict(x) as tf.Tensor;
    const viaTail = (tailFrom(m, 'block_12_add').predict(mid) as tf.Tensor).dataSync();
    for (let i = 0; i < full.length; i++) expect(viaTail[i]).toBeCloseTo(full[i], 5);
  });

  it('folds batch norm into conv kernel and bias exactly', () => {
    const raw: NamedWeights = new Map([
      ['block_1_expand/kernel', { shape: [1, 1, 2, 2], data: Float32Array.from([1, 2, 3, 4]) }],
      ['block_1_expand_BN/gamma', { shape: [2], data: Float32Array.from([2, 0.5]) }],
      ['block_1_expand_BN/beta', { shape: [2], data: Float32Array.from([1, -1]) }],
      ['block_1_expand_BN/moving_mean', { shape: [2], data: Float32Array.from([0.5, 2]) }],
      ['block_1_expand_BN/moving_variance', { shape: [2], data: Float32Array.from([3, 0]) }],
    ]);
    const eps = 1e-3;
    const folded = foldBatchNorm(raw, eps);
    const x = tf.tensor4d([0.3, -0.7], [1, 1, 1, 2]);
    const k = raw.get('block_1_expand/kernel')!;
    const y = tf.conv2d(x, tf.tensor4d(k.data, [1, 1, 2, 2]), 1, 'same');
    const bn = tf.batchNorm(y, [0.5, 2], [3, 0], [1, -1], [2, 0.5], eps).dataSync();
    const f = folded.get('block_1_expand/kernel')!;
    const b = folded.get('block_1_expand/bias')!;
    const y2 = tf.conv2d(x, tf.tensor4d(f.data, [1, 1, 2, 2]), 1, 'same').add(tf.tensor1d(b.data)).dataSync();
    expect(y2[0]).toBeCloseTo(bn[0], 5);
    expect(y2[1]).toBeCloseTo(bn[1], 5);
    expect([...folded.keys()].some((n) => n.includes('_BN'))).toBe(false);
  });
});

describe('weight sources', () => {
  it('nsfwjs: BN folded, [0, 1] input scaling, flagged as fallback', async () => {
    const b = await loadBackbone('nsfwjs');
    expect(b.fallback).toBe(true);
    expect(b.floatScaling).toEqual(SCALING_0_1);
    expect(b.sha256).toMatch(/^[0-9a-f]{64}$/);
    const m = buildMobileNetV2({ inputSize: 96, numClasses: 2, dropout: 0 });
    applyWeights(m, b.weights, 'nsfwjs');
    expect([...b.weights.keys()].some((n) => n.includes('_BN') || n.startsWith('bn_'))).toBe(false);
  });

  it('Keras .h5 (Keras 2 layout, written by h5py): weights by layer name, BN folded, [-1, 1] scaling', async () => {
    // Fixture: the first two MobileNetV2 layers with their BN, written by h5py in the layout of
    // keras.applications weight files (root attr layer_names, LAYER/LAYER/NAME:0 datasets).
    const path = join(import.meta.dirname, 'fixtures', 'keras-mobilenetv2-first-layers.h5');
    const b = await loadBackbone(path);
    expect(b.kind).toBe('h5');
    expect(b.floatScaling).toEqual(SCALING_MINUS1_1);
    expect([...b.weights.keys()].sort()).toEqual(
      ['Conv1/bias', 'Conv1/kernel', 'expanded_conv_depthwise/bias', 'expanded_conv_depthwise/depthwise_kernel'],
    );
    // expanded_conv_depthwise_BN: gamma 1, beta 0, mean 0.5, variance 3.999 → scale 1/2, bias −0.25.
    expect(b.weights.get('expanded_conv_depthwise/bias')!.data[0]).toBeCloseTo(-0.25, 6);
    expect(b.weights.get('expanded_conv_depthwise/depthwise_kernel')!.shape).toEqual([3, 3, 32, 1]);
    // An incomplete file is refused by name when applied to the model.
    const m = buildMobileNetV2({ inputSize: 96, numClasses: 2, dropout: 0 });
    expect(() => applyWeights(m, b.weights, path)).toThrow(/expanded_conv_project\/kernel is missing/);
  });

  describe.skipIf(!haveShared)('ImageNet weights from ../shared', () => {
    const labels = () => readFileSync(join(shared, 'imagenet_labels.txt'), 'utf8').split('\n');
    async function top1(source: string): Promise<{ label: string; scaling: { scale: number; offset: number } }> {
      const b = await loadBackbone(source);
      const m = buildMobileNetV2({ inputSize: 224, numClasses: 1001, dropout: 0 });
      applyWeights(m, b.weights, source, true);
      const rgb = await loadImageRgb(join(shared, 'samples', 'hot_dog.jpg'), 224, 'squash');
      const p = m.predict(toInputTensor([rgb], 224, b.floatScaling)) as tf.Tensor;
      const idx = p.argMax(-1).dataSync()[0];
      m.dispose();
      return { label: labels()[idx], scaling: b.floatScaling };
    }

    it('tfjs folder classifies hot_dog.jpg as "hotdog" with [-1, 1] scaling', async () => {
      const r = await top1(join(shared, 'tfjs'));
      expect(r.label).toMatch(/^hotdog/);
      expect(r.scaling).toEqual(SCALING_MINUS1_1);
    });

    it('both official .tflite files import (dequantized, mapped by graph position) and agree', async () => {
      for (const f of ['mobilenet_v2_1.0_224_quant.tflite', 'tf2_mobilenet_v2_1.0_224_ptq.tflite']) {
        const r = await top1(join(shared, 'tflite', f));
        expect(r.label, f).toMatch(/^hotdog/);
        // uint8/int8 input quantization gives (close to) the [-1, 1] scaling.
        expect(r.scaling.scale).toBeCloseTo(1 / 127.5, 3);
        expect(r.scaling.offset).toBeCloseTo(-1, 2);
      }
    });
  });
});
