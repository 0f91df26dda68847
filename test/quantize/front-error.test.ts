/**
 * The int8 front's error at its output (host/quantize/front-error.ts), which `finetune --quant-noise`
 * trains the tail against: one spread per output channel, small against the signal but not zero (the
 * front really runs on its int8 grid), and the same figures for the same images.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { frontQuantizationError } from '../../host/quantize/front-error.ts';
import { randomImages, tinyClassifier } from './models.ts';

const SCALING = { scale: 1 / 127.5, offset: -1 };

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function front(): tf.LayersModel {
  const m = tinyClassifier({ size: 16, batchNorm: true, seed: 3 });
  return tf.model({ inputs: m.inputs, outputs: m.getLayer('block_1_add').output as tf.SymbolicTensor });
}

describe('frontQuantizationError', () => {
  it('measures a per-channel int8 error that is small against the signal but not zero', async () => {
    const f = front();
    const images = randomImages(6, 16, 11);
    const e = await frontQuantizationError(f, images, SCALING, 'minmax', 4);
    expect(e.sigma).toHaveLength(8);
    expect(e.signalSigma).toHaveLength(8);
    expect(e.images).toBe(6);
    for (let c = 0; c < 8; c++) {
      expect(e.sigma[c]).toBeGreaterThan(0);
      expect(e.sigma[c]).toBeLessThan(0.2 * e.signalSigma[c]!);
      expect(Math.abs(e.mean[c]!)).toBeLessThan(e.signalSigma[c]! * 0.1);
    }
    const again = await frontQuantizationError(f, images, SCALING, 'minmax', 2);
    again.sigma.forEach((s, c) => expect(s).toBeCloseTo(e.sigma[c]!, 5));
    f.dispose();
  });

  it('refuses an empty image set', async () => {
    const f = front();
    await expect(frontQuantizationError(f, [], SCALING)).rejects.toThrow('at least one image');
    f.dispose();
  });
});
