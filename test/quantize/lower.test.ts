import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { lowerLayersModel, opCounts } from '../../host/quantize/lower.ts';
import { IrExecutor, imagesToBatch } from '../../host/quantize/execute.ts';
import { padThenValidIsSame, samePadding } from '../../host/quantize/ir.ts';
import { UserError } from '../../host/util/errors.ts';
import { randomImages, randomiseBatchNorms, tinyClassifier } from './models.ts';

const SCALING = { scale: 1 / 127.5, offset: -1 };

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The model cut at `layer` (pre-softmax values show folding errors that softmax would squash). */
function cutAt(model: tf.LayersModel, layer: string): tf.LayersModel {
  return tf.model({ inputs: model.inputs, outputs: model.getLayer(layer).output as tf.SymbolicTensor });
}

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / Math.max(1e-6, tf.max(tf.abs(a)).dataSync()[0]!));
}

describe('lowering a tfjs LayersModel', () => {
  for (const size of [16, 15]) {
    for (const batchNorm of [true, false]) {
      it(`matches tfjs predict in float (size ${size}, ${batchNorm ? 'with' : 'without'} BatchNormalization)`, () => {
        const model = tinyClassifier({ size, batchNorm, seed: size });
        const x = imagesToBatch(randomImages(3, size, 11), size, SCALING);
        for (const m of [cutAt(model, 'Conv_1'), model]) {
          const graph = lowerLayersModel(m);
          expect(graph.ops.some((op) => op.kind === 'BATCH_NORM')).toBe(false);
          const exec = new IrExecutor(graph);
          const ref = m.predict(x) as tf.Tensor;
          const got = exec.run(x);
          expect(got.shape).toEqual(ref.shape);
          // Folding reorders float32 products only: relative error at float32 rounding level.
          expect(maxRelDiff(ref, got)).toBeLessThan(1e-5);
          exec.dispose();
        }
      });
    }
  }

  it('folds BatchNormalization, fuses ReLU/ReLU6, drops Dropout and maps the head', () => {
    const graph = lowerLayersModel(tinyClassifier({ size: 16, batchNorm: true }));
    expect(opCounts(graph)).toEqual({ CONV_2D: 4, DEPTHWISE_CONV_2D: 2, ADD: 1, MEAN: 1, FULLY_CONNECTED: 1, SOFTMAX: 1 });
    const acts = graph.ops.map((op) => ('activation' in op ? op.activation : '-'));
    // Conv1 RELU6, expand RELU6, depthwise RELU6, project NONE, add NONE, depthwise/2 RELU, Conv_1 RELU6, FC NONE.
    expect(acts).toEqual(['RELU6', 'RELU6', 'RELU6', 'NONE', 'NONE', 'RELU', 'RELU6', '-', 'NONE', '-']);
    expect(graph.notes.filter((n) => n.startsWith('folded BatchNormalization'))).toHaveLength(4);
    expect(graph.values[graph.output]!.shape).toEqual([1, 4]);
  });

  it('turns ZeroPadding2D((0,1),(0,1)) + VALID stride-2 into SAME at even sizes and keeps PAD at odd ones', () => {
    const even = lowerLayersModel(tinyClassifier({ size: 16, batchNorm: false }));
    expect(even.ops.some((op) => op.kind === 'PAD')).toBe(false);
    expect(even.ops[0]).toMatchObject({ kind: 'CONV_2D', padding: 'SAME', strideH: 2 });
    const odd = lowerLayersModel(tinyClassifier({ size: 15, batchNorm: false }));
    expect(odd.ops[0]).toMatchObject({ kind: 'PAD', paddings: [[0, 1], [0, 1]] });
    expect(odd.ops[1]).toMatchObject({ kind: 'CONV_2D', padding: 'VALID' });
    expect(odd.notes.some((n) => n.includes('differs from TF SAME'))).toBe(true);
  });

  it('decides padding equivalence exactly as TF convolutions compute it', () => {
    // Brute force against tfjs: pad + VALID conv equals SAME conv iff padThenValidIsSame says so.
    const r = (() => {
      let s = 7;
      return () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296) - 0.5;
    })();
    let agreeCases = 0;
    for (let n = 4; n <= 11; n++) {
      for (const k of [1, 3, 5]) {
        if (k > n) continue;
        for (const s of [1, 2]) {
          for (const before of [0, 1, 2]) {
            for (const after of [0, 1, 2]) {
              const claim = padThenValidIsSame(n, before, after, k, s);
              const equal = tf.tidy(() => {
                const x = tf.tensor4d(Array.from({ length: n * n }, r), [1, n, n, 1]);
                const w = tf.tensor4d(Array.from({ length: k * k }, r), [k, k, 1, 1]);
                const a = tf.conv2d(tf.pad(x, [[0, 0], [before, after], [before, after], [0, 0]]), w, s, 'valid');
                const b = tf.conv2d(x, w, s, 'same');
                if (JSON.stringify(a.shape) !== JSON.stringify(b.shape)) return false;
                return tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! < 1e-6;
              });
              expect(claim, `n=${n} k=${k} s=${s} pad=(${before},${after})`).toBe(equal);
              if (equal) agreeCases++;
            }
          }
        }
      }
    }
    expect(agreeCases).toBeGreaterThan(10);
    // The MobileNetV2 cases: 224 pads (0,1) = SAME; at an odd size SAME pads (1,1).
    expect(padThenValidIsSame(224, 0, 1, 3, 2)).toBe(true);
    expect(samePadding(15, 3, 2)).toEqual({ out: 8, before: 1, after: 1 });
    expect(padThenValidIsSame(15, 1, 1, 3, 2)).toBe(true);
    expect(padThenValidIsSame(15, 0, 1, 3, 2)).toBe(false);
  });

  it('lowers a Sequential model with a Flatten head and matches predict', () => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3 }),
        tf.layers.batchNormalization(),
        tf.layers.activation({ activation: 'relu' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2 }),
        tf.layers.softmax(),
      ],
    });
    randomiseBatchNorms(m, 3);
    const graph = lowerLayersModel(m);
    expect(graph.ops.map((op) => op.kind)).toEqual(['CONV_2D', 'RESHAPE', 'FULLY_CONNECTED', 'SOFTMAX']);
    const x = tf.randomUniform([2, 6, 6, 2], -1, 1, 'float32', 5);
    const exec = new IrExecutor(graph);
    expect(maxRelDiff(m.predict(x) as tf.Tensor, exec.run(x))).toBeLessThan(1e-5);
  });

  it('flattens a nested backbone model', () => {
    const backbone = tf.sequential({
      name: 'backbone',
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: false }),
        tf.layers.batchNormalization(),
        tf.layers.reLU({ maxValue: 6 }),
      ],
    });
    randomiseBatchNorms(backbone, 5);
    const input = tf.input({ shape: [8, 8, 3] });
    const features = backbone.apply(input) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(features) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(pooled) as tf.SymbolicTensor;
    const m = tf.model({ inputs: input, outputs: out });
    const graph = lowerLayersModel(m);
    expect(graph.ops.map((op) => op.kind)).toEqual(['CONV_2D', 'MEAN', 'FULLY_CONNECTED', 'SOFTMAX']);
    const x = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 9);
    const exec = new IrExecutor(graph);
    expect(maxRelDiff(m.predict(x) as tf.Tensor, exec.run(x))).toBeLessThan(1e-5);
  });

  it('refuses a layer it cannot lower, naming the layer and its type', () => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, name: 'stem' }),
        tf.layers.maxPooling2d({ poolSize: 2, name: 'pool_here' }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 2, activation: 'softmax' }),
      ],
    });
    expect(() => lowerLayersModel(m)).toThrow(UserError);
    expect(() => lowerLayersModel(m)).toThrow(/layer "pool_here" has type MaxPooling2D/);
  });

  it('refuses a BatchNormalization it cannot fold and an unsupported activation', () => {
    const afterRelu = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, activation: 'relu' }),
        tf.layers.batchNormalization({ name: 'late_bn' }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 2, activation: 'softmax' }),
      ],
    });
    expect(() => lowerLayersModel(afterRelu)).toThrow(/layer "late_bn" \(BatchNormalization\) does not directly follow/);
    const tanh = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, activation: 'tanh', name: 'tanh_conv' }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 2, activation: 'softmax' }),
      ],
    });
    expect(() => lowerLayersModel(tanh)).toThrow(/layer "tanh_conv" \(Conv2D\) uses activation "tanh"/);
  });
});
