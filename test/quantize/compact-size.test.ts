/**
 * The quantizer's compact file (biasQuantParams: false, no quantization parameters on convolution
 * biases) against the default and the unshared forms of the same quantized model: smaller overhead
 * over the int8 weight and int32 bias bytes, the same constants, and a model LiteRT runs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { quantizeModel, type QuantizeConfig } from '../../host/quantize/quantize-model.ts';
import { buildTfliteModel, withoutConvBiasQuantParams } from '../../host/quantize/tflite-builder.ts';
import { readTflite } from '../../host/tflite/reader.ts';
import { getPlastisortMetadata } from '../../host/tflite/plastisort-metadata.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { loadLiteRtModel } from '../../host/tflite/litert.ts';
import { randomImages, tinyClassifier } from './models.ts';

const SCALING = { scale: 1 / 127.5, offset: -1 };
const SIZE = 16;
const CONFIG: QuantizeConfig = { classes: ['a', 'b', 'c', 'd'], inputSize: SIZE, floatScaling: SCALING, resize: 'squash' };

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('compact quantized file', () => {
  it('has less overhead over weights + biases than the verbose forms, with the same constants', async () => {
    const model = tinyClassifier({ size: SIZE, batchNorm: true, seed: 9 });
    const r = await quantizeModel(model, CONFIG, randomImages(16, SIZE, 3), { method: 'minmax', biasQuantParams: false });
    const payload = r.report.sizes.int8WeightBytes + r.report.sizes.int32BiasBytes;
    const overhead = (bytes: Uint8Array) => bytes.length / payload - 1;

    const meta = getPlastisortMetadata(readTflite(r.tflite))!;
    const verboseModel = buildTfliteModel(r.graph, r.params, meta);
    const verboseShared = writeTflite(verboseModel);
    const verboseUnshared = writeTflite(verboseModel, { shareVectors: false });
    const compact = r.tflite;

    expect(r.report.sizes.biasQuantParams).toBe(false);
    expect(r.report.sizes.tfliteBytes).toBe(compact.length);
    expect(r.report.sizes.overheadPercent).toBeCloseTo(100 * overhead(compact), 9);
    expect(overhead(compact)).toBeLessThan(overhead(verboseShared));
    expect(overhead(verboseShared)).toBeLessThan(overhead(verboseUnshared));

    // Only metadata differs: every constant buffer is byte-identical.
    const c = readTflite(compact);
    const v = readTflite(verboseUnshared);
    expect(c.buffers).toEqual(v.buffers);
    expect(c.operators).toEqual(v.operators);

    expect(withoutConvBiasQuantParams(v)).toEqual(c);
    // What the compact file leaves out is derivable: each verbose bias scale is input scale × filter
    // scale per output channel (float32 rounding aside), zero point 0, as the int8 spec defines it.
    let checked = 0;
    for (const op of v.operators) {
      if (op.op !== 'CONV_2D' && op.op !== 'DEPTHWISE_CONV_2D') continue;
      const [input, filter, bias] = [0, 1, 2].map((k) => v.tensors[op.inputs[k]!]!);
      const inScale = input!.quantization!.scale[0]!;
      const filterScales = filter!.quantization!.scale;
      expect(bias!.quantization!.scale.length).toBe(filterScales.length);
      bias!.quantization!.scale.forEach((s, k) => expect(Math.abs(s / (inScale * filterScales[k]!) - 1)).toBeLessThan(1e-6));
      expect(bias!.quantization!.zeroPoint.every((z) => z === 0)).toBe(true);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('runs in LiteRT close to the verbose form (built-in kernels instead of XNNPACK for the convolutions)', async () => {
    const model = tinyClassifier({ size: SIZE, batchNorm: false, seed: 4 });
    const r = await quantizeModel(model, CONFIG, randomImages(16, SIZE, 5), { method: 'minmax' });
    const meta = getPlastisortMetadata(readTflite(r.tflite))!;
    const compact = await loadLiteRtModel(writeTflite(buildTfliteModel(r.graph, r.params, meta, { biasQuantParams: false })), 'compact');
    const verbose = await loadLiteRtModel(r.tflite, 'verbose');
    let values = 0;
    let exact = 0;
    let maxDiff = 0;
    try {
      for (const img of randomImages(16, SIZE, 11)) {
        const x = Int8Array.from(img, (p) => p - 128);
        const [a] = await compact.run([x]);
        const [b] = await verbose.run([x]);
        for (let k = 0; k < a!.length; k++) {
          const d = Math.abs(a![k]! - b![k]!);
          values++;
          if (d === 0) exact++;
          maxDiff = Math.max(maxDiff, d);
        }
      }
    } finally {
      compact.dispose();
      verbose.dispose();
    }
    console.info(`compact vs verbose in LiteRT: ${exact}/${values} output values identical, max |diff| ${maxDiff} LSB`);
    // Two integer implementations of the same model: their requantization rounding differs by at most
    // one LSB per layer, and the difference compounds over the tiny model's layers (same bound as
    // LiteRT vs our int8 simulation in quantize.test.ts).
    expect(maxDiff).toBeLessThanOrEqual(4);
  });
});
