// Scores int8 candidates against the float model on the validation images: in LiteRT (real integer
// kernels) or by simulating the int8 grid in the float executor.
import type * as tf from '@tensorflow/tfjs';
import type { PlastisortMetadata, TfliteModel } from '../tflite/model.ts';
import { writeTflite } from '../tflite/writer.ts';
import { loadLiteRtModel } from '../tflite/litert.ts';
import { log } from '../util/log.ts';
import { argmax } from '../shared/metrics.ts';
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
  /**
   * Mean over images of the L1 distance between the float and the int8 class probabilities: moves with
   * every image, where agreement moves in steps of one image; `auto` keeps the candidate with the smallest.
   */
  meanL1: number;
}

/** Class probabilities per image, and the top-1 classes they imply. */
export interface ClassScores {
  classes: number[];
  probabilities: Float32Array[];
}

function rowsOf(t: tf.Tensor): Float32Array[] {
  const data = t.dataSync();
  const k = t.shape[t.shape.length - 1]!;
  return Array.from({ length: data.length / k }, (_, r) => Float32Array.from(data.subarray(r * k, (r + 1) * k)));
}

export function withClasses(probabilities: Float32Array[]): ClassScores {
  return { classes: probabilities.map(argmax), probabilities };
}

/** Class probabilities and top-1 classes of a graph on images, scaled with `scaling`. */
export async function predictScores(exec: IrExecutor, images: Uint8Array[], size: number, scaling: FloatScaling, batchSize = 8, onBatch?: (done: number) => void): Promise<ClassScores> {
  const probabilities: Float32Array[] = [];
  for (let s = 0; s < images.length; s += batchSize) {
    const x = imagesToBatch(images.slice(s, s + batchSize), size, scaling);
    const y = exec.run(x);
    probabilities.push(...rowsOf(y));
    x.dispose();
    y.dispose();
    onBatch?.(Math.min(images.length, s + batchSize));
    await new Promise((r) => setImmediate(r));
  }
  return withClasses(probabilities);
}

/** How close int8 probabilities are to float's, and how often each is right. */
export function scoreAgainstFloat(int8: ClassScores, float: ClassScores, labels: number[]): SplitScore {
  const n = Math.max(1, int8.classes.length);
  let l1 = 0;
  int8.probabilities.forEach((row, i) => row.forEach((p, j) => (l1 += Math.abs(p - float.probabilities[i]![j]!))));
  return {
    agreement: int8.classes.filter((p, i) => p === float.classes[i]).length / n,
    accuracy: int8.classes.filter((p, i) => p === labels[i]).length / n,
    meanL1: l1 / n,
  };
}

/**
 * Whether candidate `a` beats `b` on validation: the smaller mean L1 distance to the float probabilities
 * (bench/results/int8-calibration.json: over five seeds it shipped the smallest test changes of the rules
 * tried), then the higher agreement.
 */
export function betterCandidate(a: SplitScore, b: SplitScore): boolean {
  if (a.meanL1 !== b.meanL1) return a.meanL1 < b.meanL1;
  return a.agreement > b.agreement;
}

/** Float scaling that feeds the int8 model's view of byte p: x = s·(p − 128 − zp). */
export function contractScaling(iq: InputQuantization): FloatScaling {
  return { scale: iq.scale, offset: -(128 + iq.zeroPoint) * iq.scale };
}

/**
 * Class probabilities of an int8 model (input q = p − 128) run by LiteRT, dequantized with its output
 * tensor's own scale and zero point.
 */
async function liteRtScores(model: TfliteModel, images: Uint8Array[], onProgress?: (done: number) => void): Promise<ClassScores> {
  const outQ = model.tensors[model.outputs[0]!]!.quantization!;
  const [scale, zeroPoint] = [outQ.scale[0]!, outQ.zeroPoint[0] ?? 0];
  const lite = await loadLiteRtModel(writeTflite(model));
  try {
    const probabilities: Float32Array[] = [];
    for (const img of images) {
      const [out] = await lite.run([Int8Array.from(img, (p) => p - 128)]);
      probabilities.push(Float32Array.from(out!, (q) => (Number(q) - zeroPoint) * scale));
      if (probabilities.length % 8 === 0 || probabilities.length === images.length) onProgress?.(probabilities.length);
    }
    return withClasses(probabilities);
  } finally {
    lite.dispose();
  }
}

export interface CandidateScorerOptions {
  validation: { images: Uint8Array[]; labels: number[] };
  /** The float model on the validation images. */
  float: ClassScores;
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
    const { validation: v, float, progress } = this.o;
    if (this.evaluator === 'litert') {
      try {
        // Scored with every bias quantized so that XNNPACK takes the convolutions whatever the shipped
        // form: the integers are the same, and LiteRT's built-in kernels take ~20× longer per image.
        const scored = buildTfliteModel(graph, params, this.o.meta, { biasQuantParams: true });
        const int8 = await liteRtScores(scored, v.images, (d) => progress(label, d, v.images.length));
        return scoreAgainstFloat(int8, float, v.labels);
      } catch (e) {
        log.warn(`LiteRT could not run the candidate model (${(e as Error).message}); scoring by int8 simulation instead`);
        this.evaluator = 'simulate';
      }
    }
    const exec = new IrExecutor(graph, fakeQuantOf(graph, params));
    const int8 = await predictScores(exec, v.images, this.o.inputSize, contractScaling(this.o.input), this.o.batchSize, (d) => progress(label, d, v.images.length));
    exec.dispose();
    return scoreAgainstFloat(int8, float, v.labels);
  }
}
