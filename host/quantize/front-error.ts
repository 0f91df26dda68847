/**
 * How far the int8 version of a frozen network front lands from the float one at its output: the front
 * (e.g. MobileNetV2 up to `block_12_add`) is lowered, calibrated and simulated on its int8 grid as
 * quantizeModel would ship it, and the difference to float is summarised per output channel. Fine-tuning
 * reads it to train the tail on inputs as noisy as the device will give it (bench/results/
 * int8-attribution.json: most of int8's error at the output comes from the front's activations).
 */
import type * as tf from '@tensorflow/tfjs';
import { cloneGraph } from './ir.ts';
import { lowerLayersModel } from './lower.ts';
import { collectStats, type CalibrationMethod } from './calibrate.ts';
import { IrExecutor, imagesToBatch } from './execute.ts';
import { assignQuantParams, fakeQuantOf, inputQuantization, type FloatScaling } from './int8-params.ts';
import { compensateInputOffset } from './input-offset.ts';

export interface FrontError {
  /** Per output channel: standard deviation of int8 − float over every position of every image. */
  sigma: Float32Array;
  /** Per output channel: mean of int8 − float (what noise of zero mean leaves out). */
  mean: Float32Array;
  /** Per output channel: standard deviation of the float output itself. */
  signalSigma: Float32Array;
  images: number;
  method: CalibrationMethod;
}

/**
 * Simulates `front` (a float LayersModel) on its int8 grid, calibrated on `images` (RGB888, inputSize² × 3)
 * with `method` and bias correction, and measures its output error against float on the same images.
 */
export async function frontQuantizationError(front: tf.LayersModel, images: Uint8Array[], floatScaling: FloatScaling, method: CalibrationMethod = 'mse', batchSize = 8): Promise<FrontError> {
  if (images.length === 0) throw new Error('frontQuantizationError needs at least one image');
  const floatGraph = lowerLayersModel(front);
  const size = floatGraph.values[floatGraph.input]!.shape[1]!;
  const iq = inputQuantization(floatScaling);
  const qGraph = cloneGraph(floatGraph);
  compensateInputOffset(qGraph, iq.residualOffset);
  const stats = await collectStats(floatGraph, images, { floatScaling, batchSize });
  const params = assignQuantParams(qGraph, stats, iq, method, 99.99, true);
  const floatExec = new IrExecutor(floatGraph);
  const int8Exec = new IrExecutor(qGraph, fakeQuantOf(qGraph, params));
  // The int8 model reads byte p as s·(p − 128 − zp); the float model as p·scale + offset.
  const contract = { scale: iq.scale, offset: -(128 + iq.zeroPoint) * iq.scale };
  const channels = floatGraph.values[floatGraph.output]!.shape.at(-1)!;
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  const fSum = new Float64Array(channels);
  const fSq = new Float64Array(channels);
  let positions = 0;
  try {
    for (let s = 0; s < images.length; s += batchSize) {
      const chunk = images.slice(s, s + batchSize);
      const xf = imagesToBatch(chunk, size, floatScaling);
      const xq = imagesToBatch(chunk, size, contract);
      const yf = floatExec.run(xf);
      const yq = int8Exec.run(xq);
      const f = yf.dataSync() as Float32Array;
      const q = yq.dataSync() as Float32Array;
      for (const t of [xf, xq, yf, yq]) t.dispose();
      for (let i = 0; i < f.length; i++) {
        const c = i % channels;
        const d = q[i]! - f[i]!;
        sum[c] += d;
        sq[c] += d * d;
        fSum[c] += f[i]!;
        fSq[c] += f[i]! * f[i]!;
      }
      positions += f.length / channels;
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    floatExec.dispose();
    int8Exec.dispose();
  }
  const std = (s: number, s2: number) => Math.sqrt(Math.max(0, s2 / positions - (s / positions) ** 2));
  return {
    sigma: Float32Array.from(sum, (s, c) => std(s, sq[c]!)),
    mean: Float32Array.from(sum, (s) => s / positions),
    signalSigma: Float32Array.from(fSum, (s, c) => std(s, fSq[c]!)),
    images: images.length,
    method,
  };
}
