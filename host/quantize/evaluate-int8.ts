// Scores int8 candidates against the float model on the validation images: in LiteRT (real integer
// kernels) or by simulating the int8 grid in the float executor.
import type * as tf from '@tensorflow/tfjs';
import type { PlastisortMetadata } from '../tflite/model.ts';
import { writeTflite } from '../tflite/writer.ts';
import { loadLiteRtModel } from '../tflite/litert.ts';
import { log } from '../util/log.ts';
import type { IrGraph } from './ir.ts';
import { IrExecutor, imagesToBatch } from './execute.ts';
import { fakeQuantOf, type FloatScaling, type InputQuantization, type QuantParams } from './int8-params.ts';
import { buildTfliteModel } from './tflite-builder.ts';

export type Int8Evaluator = 'litert' | 'simulate';

export interface SplitScore {
  /** Top-1 agreement with the float model on the validation images. */
  agreement: number;
  /** Top-1 accuracy against the labels. */
  accuracy: number;
}

function argmaxRows(t: tf.Tensor): number[] {
  const data = t.dataSync();
  const k = t.shape[t.shape.length - 1]!;
  const out: number[] = [];
  for (let r = 0; r < data.length / k; r++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (data[r * k + j]! > data[r * k + best]!) best = j;
    out.push(best);
  }
  return out;
}

/** Top-1 predictions of a graph on images, scaled with `scaling`. */
export async function predictClasses(exec: IrExecutor, images: Uint8Array[], size: number, scaling: FloatScaling, batchSize = 8, onBatch?: (done: number) => void): Promise<number[]> {
  const preds: number[] = [];
  for (let s = 0; s < images.length; s += batchSize) {
    const x = imagesToBatch(images.slice(s, s + batchSize), size, scaling);
    const y = exec.run(x);
    preds.push(...argmaxRows(y));
    x.dispose();
    y.dispose();
    onBatch?.(Math.min(images.length, s + batchSize));
    await new Promise((r) => setImmediate(r));
  }
  return preds;
}

function score(preds: number[], floatPreds: number[], labels: number[]): SplitScore {
  const n = Math.max(1, preds.length);
  return {
    agreement: preds.filter((p, i) => p === floatPreds[i]).length / n,
    accuracy: preds.filter((p, i) => p === labels[i]).length / n,
  };
}

/** Float scaling that feeds the int8 model's view of byte p: x = s·(p − 128 − zp). */
function contractScaling(iq: InputQuantization): FloatScaling {
  return { scale: iq.scale, offset: -(128 + iq.zeroPoint) * iq.scale };
}

/** Top-1 classes of an int8 `.tflite` (input q = p − 128) run by LiteRT. */
async function liteRtClasses(tflite: Uint8Array, images: Uint8Array[], onProgress?: (done: number) => void): Promise<number[]> {
  const model = await loadLiteRtModel(tflite);
  try {
    const preds: number[] = [];
    for (const img of images) {
      const [out] = await model.run([Int8Array.from(img, (p) => p - 128)]);
      const o = out!;
      let best = 0;
      for (let j = 1; j < o.length; j++) if (o[j]! > o[best]!) best = j;
      preds.push(best);
      if (preds.length % 8 === 0 || preds.length === images.length) onProgress?.(preds.length);
    }
    return preds;
  } finally {
    model.dispose();
  }
}

export interface CandidateScorerOptions {
  validation: { images: Uint8Array[]; labels: number[] };
  /** Top-1 classes of the float model on the validation images. */
  floatPreds: number[];
  meta: PlastisortMetadata;
  inputSize: number;
  input: InputQuantization;
  batchSize: number;
  progress: (phase: string, done: number, total: number) => void;
}

/**
 * Scores quantized graphs on the validation images. Starts with the requested evaluator and falls back to
 * 'simulate' for this and every later candidate once LiteRT fails, so all candidates are compared alike.
 */
export class CandidateScorer {
  evaluator: Int8Evaluator;

  constructor(private readonly o: CandidateScorerOptions, evaluator: Int8Evaluator) {
    this.evaluator = evaluator;
  }

  async score(graph: IrGraph, params: QuantParams, label: string): Promise<SplitScore> {
    const { validation: v, floatPreds, progress } = this.o;
    if (this.evaluator === 'litert') {
      try {
        // Scored with every bias quantized so that XNNPACK takes the convolutions whatever the shipped
        // form: the integers are the same, and LiteRT's built-in kernels take ~20× longer per image.
        const scored = buildTfliteModel(graph, params, this.o.meta, { biasQuantParams: true });
        const preds = await liteRtClasses(writeTflite(scored), v.images, (d) => progress(label, d, v.images.length));
        return score(preds, floatPreds, v.labels);
      } catch (e) {
        log.warn(`LiteRT could not run the candidate model (${(e as Error).message}); scoring by int8 simulation instead`);
        this.evaluator = 'simulate';
      }
    }
    const exec = new IrExecutor(graph, fakeQuantOf(graph, params));
    const preds = await predictClasses(exec, v.images, this.o.inputSize, contractScaling(this.o.input), this.o.batchSize, (d) => progress(label, d, v.images.length));
    exec.dispose();
    return score(preds, floatPreds, v.labels);
  }
}
