import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { collectStats } from '../../host/quantize/calibrate.ts';
import { equalizeLinearStreams, findLinearStreams } from '../../host/quantize/equalize.ts';
import { IrExecutor, imagesToBatch } from '../../host/quantize/execute.ts';
import { assignQuantParams, fakeQuantOf, inputQuantization } from '../../host/quantize/int8-params.ts';
import { cloneGraph, type IrGraph } from '../../host/quantize/ir.ts';
import { lowerLayersModel } from '../../host/quantize/lower.ts';
import { quantizeModel } from '../../host/quantize/quantize-model.ts';
import { linearStreamClassifier, randomImages, tinyClassifier } from './models.ts';

const SCALING = { scale: 1 / 127.5, offset: -1 };
const SKEW = [30, 1, 0.1, 3, 0.5, 0.05];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function outputs(graph: IrGraph, images: Uint8Array[], fq?: ReturnType<typeof fakeQuantOf>): Float32Array {
  const exec = new IrExecutor(graph, fq);
  const x = imagesToBatch(images, graph.values[graph.input]!.shape[1]!, SCALING);
  const y = exec.run(x);
  const data = y.dataSync() as Float32Array;
  y.dispose();
  x.dispose();
  exec.dispose();
  return data;
}

const names = (g: IrGraph, ids: number[]) => ids.map((v) => g.values[v]!.name);

describe('equalizing linear bottlenecks', () => {
  it('finds the projections and their residual sum as one stream, with its readers', () => {
    const g = lowerLayersModel(linearStreamClassifier(12, SKEW));
    const streams = findLinearStreams(g);
    expect(streams).toHaveLength(1);
    expect(names(g, streams[0]!.values)).toEqual(['block_1_project', 'block_2_project', 'block_2_add']);
    expect(streams[0]!.writers.map((op) => op.name)).toEqual(['block_1_project', 'block_2_project']);
    expect(streams[0]!.readers.map((op) => op.name).sort()).toEqual(['Conv_1', 'block_2_expand']);
    expect(streams[0]!.channels).toBe(SKEW.length);
  });

  it('leaves a residual alone that a ReLU6 output joins, and takes a ReLU writer with its factor', async () => {
    // tinyClassifier's residual adds a ReLU6 output (the clip does not commute with a factor); its
    // stride-2 depthwise (multiplier 2) ends in plain ReLU, which does, and only a convolution reads it.
    const g = lowerLayersModel(tinyClassifier({ size: 16, batchNorm: true }));
    const streams = findLinearStreams(g);
    expect(streams.map((s) => names(g, s.values))).toEqual([['block_2_relu']]);
    expect(streams[0]!.writers.map((op) => op.kind)).toEqual(['DEPTHWISE_CONV_2D']);
    const images = randomImages(4, 16, 3);
    const before = outputs(g, images);
    const report = equalizeLinearStreams(g, await collectStats(g, images, { floatScaling: SCALING }), 1);
    expect(report.streams[0]!.maxFactor).toBeGreaterThan(1.5);
    const after = outputs(g, images);
    for (let i = 0; i < before.length; i++) expect(after[i]).toBeCloseTo(before[i]!, 5);
  });

  it('keeps the float function, and its rescaled statistics equal a fresh calibration', async () => {
    const g = lowerLayersModel(linearStreamClassifier(12, SKEW));
    const images = randomImages(6, 12, 5);
    const before = outputs(g, images);
    const stats = await collectStats(g, images, { floatScaling: SCALING, batchSize: 3 });
    const report = equalizeLinearStreams(g, stats, 1);
    const after = outputs(g, images);
    for (let i = 0; i < before.length; i++) expect(after[i]).toBeCloseTo(before[i]!, 5);

    const fresh = await collectStats(g, images, { floatScaling: SCALING, batchSize: 3 });
    for (const [id, s] of fresh) {
      const r = stats.get(id)!;
      const tol = 1e-4 * Math.max(1, Math.abs(s.max), Math.abs(s.min));
      expect(Math.abs(r.min - s.min)).toBeLessThan(tol);
      expect(Math.abs(r.max - s.max)).toBeLessThan(tol);
      for (let c = 0; c < s.channelMax.length; c++) {
        expect(Math.abs(r.channelMax[c]! - s.channelMax[c]!)).toBeLessThan(tol);
        expect(Math.abs(r.channelMean[c]! - s.channelMean[c]!)).toBeLessThan(tol);
      }
    }
    // Strength 1: every channel of the stream now spans the same width.
    const [stream] = report.streams;
    expect(stream!.widthRatioBefore).toBeGreaterThan(50);
    expect(stream!.widthRatioAfter).toBeCloseTo(1, 6);
    const widths = SKEW.map((_, c) => {
      let lo = 0;
      let hi = 0;
      for (const v of findLinearStreams(g)[0]!.values) {
        lo = Math.min(lo, fresh.get(v)!.channelMin[c]!);
        hi = Math.max(hi, fresh.get(v)!.channelMax[c]!);
      }
      return hi - lo;
    });
    expect(Math.max(...widths) / Math.min(...widths)).toBeCloseTo(1, 3);
  });

  it('at strength ½ takes the square root of the width ratio, and 0 changes nothing', async () => {
    const images = randomImages(4, 12, 9);
    const g = lowerLayersModel(linearStreamClassifier(12, SKEW));
    const half = equalizeLinearStreams(g, await collectStats(g, images, { floatScaling: SCALING }), 0.5);
    expect(half.streams[0]!.widthRatioAfter).toBeCloseTo(Math.sqrt(half.streams[0]!.widthRatioBefore), 6);
    const h = lowerLayersModel(linearStreamClassifier(12, SKEW));
    const weights = h.ops.map((op) => ('weights' in op ? Float32Array.from(op.weights) : undefined));
    expect(equalizeLinearStreams(h, await collectStats(h, images, { floatScaling: SCALING }), 0).streams).toEqual([]);
    h.ops.forEach((op, k) => 'weights' in op && expect(op.weights).toEqual(weights[k]));
  });

  it('brings the int8 simulation closer to float when channel ranges differ', async () => {
    const images = randomImages(16, 12, 11);
    const iq = inputQuantization(SCALING);
    const l1 = async (strength: number) => {
      const g = lowerLayersModel(linearStreamClassifier(12, SKEW));
      const float = outputs(g, images);
      const stats = await collectStats(g, images, { floatScaling: SCALING });
      equalizeLinearStreams(g, stats, strength);
      const q = outputs(cloneGraph(g), images, fakeQuantOf(g, assignQuantParams(g, stats, iq, 'minmax')));
      return q.reduce((s, v, i) => s + Math.abs(v - float[i]!), 0) / images.length;
    };
    const plain = await l1(0);
    const equalized = await l1(1);
    expect(plain).toBeGreaterThan(0.01);
    expect(equalized).toBeLessThan(plain * 0.7);
  });

  it('records the equalized streams in the quantize report', async () => {
    const model = linearStreamClassifier(12, SKEW);
    const config = { classes: ['a', 'b', 'c', 'd'], inputSize: 12, floatScaling: SCALING, resize: 'squash' as const };
    const on = await quantizeModel(model, config, randomImages(6, 12, 2), { method: 'minmax', equalize: 1 });
    expect(on.report.equalization!.streams.map((s) => s.values)).toEqual([['block_1_project', 'block_2_project', 'block_2_add']]);
    const off = await quantizeModel(model, config, randomImages(6, 12, 2), { method: 'minmax' });
    expect(off.report.equalization).toEqual({ strength: 0, statistic: 'range', streams: [] });
    model.dispose();
  });
});
