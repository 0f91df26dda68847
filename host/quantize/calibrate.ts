/**
 * Activation statistics from calibration images and the ranges each calibration method derives from them.
 *
 * Per IR value we keep the exact min/max over every element of every calibration image, plus a uniform
 * random sample of elements (a fixed budget spread evenly over the images) for the clipping methods.
 */
import type { IrGraph } from './ir.ts';
import { IrExecutor, imagesToBatch } from './execute.ts';
import { createRng } from '../util/rng.ts';

export type CalibrationMethod = 'minmax' | 'percentile' | 'mse';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'mse'];

export interface ValueStats {
  min: number;
  max: number;
  /** Uniform sample of the value's elements over all calibration images. */
  sample: Float32Array;
  /** Mean of each channel (last axis) over every position of every calibration image; bias correction reads it. */
  channelMean: Float64Array;
}

export interface CalibrateOptions {
  floatScaling: { scale: number; offset: number };
  batchSize?: number;
  /** Sampled elements kept per value over the whole set (default 131072). */
  sampleBudget?: number;
  seed?: number;
  onBatch?: (done: number) => void;
}

/** Runs the float graph over the images and gathers per-value statistics. */
export async function collectStats(graph: IrGraph, images: Uint8Array[], opts: CalibrateOptions): Promise<Map<number, ValueStats>> {
  const size = graph.values[graph.input]!.shape[1]!;
  const batchSize = opts.batchSize ?? 8;
  const budget = opts.sampleBudget ?? 131072;
  const perImage = Math.max(16, Math.ceil(budget / Math.max(1, images.length)));
  const rand = createRng(opts.seed ?? 1);
  const stats = new Map<number, { min: number; max: number; sample: number[]; channelSum: Float64Array; positions: number }>();
  const exec = new IrExecutor(graph);
  try {
    for (let start = 0; start < images.length; start += batchSize) {
      const chunk = images.slice(start, start + batchSize);
      const x = imagesToBatch(chunk, size, opts.floatScaling);
      const out = exec.run(x, (id, t) => {
        const data = t.dataSync() as Float32Array;
        const channels = t.shape[t.shape.length - 1]!;
        let s = stats.get(id);
        if (!s) {
          s = { min: Infinity, max: -Infinity, sample: [], channelSum: new Float64Array(channels), positions: 0 };
          stats.set(id, s);
        }
        const sum = s.channelSum;
        for (let i = 0; i < data.length; i += channels) {
          for (let c = 0; c < channels; c++) sum[c] += data[i + c]!;
        }
        s.positions += data.length / channels;
        let lo = s.min;
        let hi = s.max;
        for (let i = 0; i < data.length; i++) {
          const v = data[i]!;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        s.min = lo;
        s.max = hi;
        const take = Math.min(data.length, perImage * chunk.length);
        for (let k = 0; k < take; k++) s.sample.push(data[Math.floor(rand() * data.length)]!);
      });
      out.dispose();
      x.dispose();
      opts.onBatch?.(Math.min(images.length, start + batchSize));
      // Let progress output and other async work through between batches.
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    exec.dispose();
  }
  const result = new Map<number, ValueStats>();
  for (const [id, s] of stats) {
    result.set(id, { min: s.min, max: s.max, sample: Float32Array.from(s.sample), channelMean: s.channelSum.map((v) => v / Math.max(1, s.positions)) });
  }
  return result;
}

/** Clip fractions tried by the MSE search: fine steps near 1, geometric steps down to 1/1000 for heavy tails. */
const MSE_GRID: number[] = [
  ...Array.from({ length: 26 }, (_, k) => 1 - k * 0.02),
  ...Array.from({ length: 30 }, (_, k) => 0.5 * Math.pow(0.002, (k + 1) / 30)),
];

/** Quantization MSE of the sample for the int8 grid spanning [lo, hi] (clipping error included). */
function rangeMse(sample: Float32Array, lo: number, hi: number): number {
  const l = Math.min(lo, 0);
  const h = Math.max(hi, 0);
  const scale = (h - l) / 255 || 1e-12;
  const zp = Math.max(-128, Math.min(127, Math.round(-128 - l / scale)));
  let err = 0;
  for (let i = 0; i < sample.length; i++) {
    const x = sample[i]!;
    const q = Math.max(-128, Math.min(127, Math.round(x / scale) + zp));
    const d = (q - zp) * scale - x;
    err += d * d;
  }
  return err / Math.max(1, sample.length);
}

function quantile(sorted: Float32Array, q: number): number {
  if (sorted.length === 0) return 0;
  const pos = Math.min(sorted.length - 1, Math.max(0, q * (sorted.length - 1)));
  const i = Math.floor(pos);
  const f = pos - i;
  return i + 1 < sorted.length ? sorted[i]! * (1 - f) + sorted[i + 1]! * f : sorted[i]!;
}

/**
 * The calibration range for one value:
 * - minmax: the exact extremes over the calibration set;
 * - percentile: the `percentile`-th (and 100−`percentile`-th) percentile of the sample, never wider
 *   than minmax;
 * - mse: [α·min, β·max] with α, β from a grid over [0.001, 1] minimising the quantization MSE (rounding and
 *   clipping error) of the sample, by coordinate search.
 */
export function rangeFor(s: Pick<ValueStats, 'min' | 'max' | 'sample'>, method: CalibrationMethod, percentile = 99.99): [number, number] {
  if (method === 'minmax' || s.sample.length === 0) return [s.min, s.max];
  if (method === 'percentile') {
    const sorted = Float32Array.from(s.sample).sort();
    const q = percentile / 100;
    const hi = Math.min(s.max, quantile(sorted, q));
    const lo = Math.max(s.min, quantile(sorted, 1 - q));
    return [Math.min(lo, hi), hi];
  }
  // Coordinate search: the upper end, then the lower one (a ReLU output has min 0 and keeps it), twice.
  const sample = s.sample.length > 32768 ? s.sample.filter((_, i) => i % Math.ceil(s.sample.length / 32768) === 0) : s.sample;
  let lo = s.min;
  let hi = s.max;
  let bestErr = rangeMse(sample, lo, hi);
  for (let round = 0; round < 2; round++) {
    for (const end of ['hi', 'lo'] as const) {
      const full = end === 'hi' ? s.max : s.min;
      if (full === 0) continue;
      for (const a of MSE_GRID) {
        const v = full * a;
        const err = end === 'hi' ? rangeMse(sample, lo, v) : rangeMse(sample, v, hi);
        if (err < bestErr) {
          bestErr = err;
          if (end === 'hi') hi = v;
          else lo = v;
        }
      }
    }
  }
  return [lo, hi];
}
