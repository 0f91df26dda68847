/**
 * Quantizes a trained float classifier to a full-int8 `.tflite`: lowers it to the IR, calibrates the
 * activations, chooses a calibration method on the validation images, builds the file and its report.
 * The quantization rules themselves are in int8-params.ts.
 */
import type * as tf from '@tensorflow/tfjs';
import type { PlastisortMetadata, TfliteModel } from '../tflite/model.ts';
import { writeTflite } from '../tflite/writer.ts';
import { UserError } from '../util/errors.ts';
import { cloneGraph, type IrGraph } from './ir.ts';
import { lowerLayersModel, opCounts } from './lower.ts';
import { IrExecutor } from './execute.ts';
import { collectStats, type CalibrationMethod, CALIBRATION_METHODS } from './calibrate.ts';
import { assignQuantParams, inputQuantization, type FloatScaling, type QuantParams } from './int8-params.ts';
import { compensateInputOffset } from './input-offset.ts';
import { buildTfliteModel } from './tflite-builder.ts';
import { betterCandidate, CandidateScorer, predictScores, type ClassScores, type Int8Evaluator, type SplitScore } from './evaluate-int8.ts';
import { sizeReport, tensorReports, type QuantizeReport } from './quantize-report.ts';

export type { CalibrationMethod } from './calibrate.ts';
export type { QuantizeReport } from './quantize-report.ts';

export interface QuantizeConfig {
  classes: string[];
  inputSize: number;
  floatScaling: FloatScaling;
  resize: 'squash' | 'center-crop';
  manifestSha256?: string;
  runId?: string;
}

export interface QuantizeOptions {
  /** 'auto' tries every method and keeps the best on the validation images (minmax without them). */
  method: CalibrationMethod | 'auto';
  /** For 'percentile' (default 99.99). */
  percentile?: number;
  /** Validation images (RGB888) and labels for choosing the method and measuring agreement with float. */
  validation?: { images: Uint8Array[]; labels: number[] };
  /** Cancel the input's residual offset in the first convolution's bias (default true). */
  compensateInputOffset?: boolean;
  /** Also measure validation scores without the compensation (default true). */
  measureInputOffset?: boolean;
  /**
   * Fold the mean error of the rounded weights into each layer's bias, from the calibration mean of its
   * input channels (default true; int8-params.ts weightRoundingBias).
   */
  biasCorrection?: boolean;
  /** Record quantization parameters on convolution biases too (default true; see BuildOptions). */
  biasQuantParams?: boolean;
  /**
   * How int8 validation scores are computed: 'litert' runs each candidate `.tflite` in LiteRT (real
   * integer kernels; default, falls back to 'simulate' if LiteRT cannot load), 'simulate' runs the float
   * executor with every weight and activation rounded to its int8 grid.
   */
  evaluator?: Int8Evaluator;
  /** Also return every candidate method's `.tflite` (for comparing methods beyond the validation split). */
  keepCandidates?: boolean;
  batchSize?: number;
  seed?: number;
  onProgress?: (phase: string, done: number, total: number) => void;
}

function metadataFor(config: QuantizeConfig): PlastisortMetadata {
  return {
    schema: 'plastisort.model/1',
    labels: [...config.classes],
    inputSize: config.inputSize,
    inputContract: 'rgb888_minus_128',
    floatScaling: { ...config.floatScaling },
    resize: config.resize,
    ...(config.manifestSha256 ? { manifestSha256: config.manifestSha256 } : {}),
    ...(config.runId ? { runId: config.runId } : {}),
  };
}

export interface QuantizeResult {
  tflite: Uint8Array;
  model: TfliteModel;
  report: QuantizeReport;
  /** The quantized graph (input offset compensation applied) and its parameters, for simulation. */
  graph: IrGraph;
  params: QuantParams;
  /** With `keepCandidates`: the `.tflite` of every method tried, the chosen one included. */
  candidateFiles?: Partial<Record<CalibrationMethod, Uint8Array>>;
}

/**
 * Lowers, calibrates and quantizes a float classifier; returns the `.tflite` bytes, the model and a report.
 * `calibration` are RGB888 images (inputSize² × 3 bytes) from the training split.
 */
export async function quantizeModel(model: tf.LayersModel, config: QuantizeConfig, calibration: Uint8Array[], opts: QuantizeOptions): Promise<QuantizeResult> {
  const t0 = performance.now();
  const progress = opts.onProgress ?? (() => {});
  const batchSize = opts.batchSize ?? 8;
  const percentile = opts.percentile ?? 99.99;
  const biasCorrection = opts.biasCorrection ?? true;
  if (calibration.length === 0) throw new UserError('no calibration images; give at least one training image (--calib N)');
  const floatGraph = lowerLayersModel(model);
  const inShape = floatGraph.values[floatGraph.input]!.shape;
  if (inShape[1] !== config.inputSize || inShape[2] !== config.inputSize || inShape[3] !== 3) {
    throw new UserError(`the model's input is ${JSON.stringify(inShape.slice(1))} but config says ${config.inputSize}×${config.inputSize}×3; the run folder is inconsistent`);
  }
  const outShape = floatGraph.values[floatGraph.output]!.shape;
  if (outShape.length !== 2 || outShape[1] !== config.classes.length) {
    throw new UserError(`the model outputs ${JSON.stringify(outShape)} but config lists ${config.classes.length} classes; the run folder is inconsistent`);
  }
  const iq = inputQuantization(config.floatScaling);
  const qGraph = cloneGraph(floatGraph);
  const compensated = opts.compensateInputOffset === false ? [] : compensateInputOffset(qGraph, iq.residualOffset);
  const lowerMs = performance.now() - t0;

  const t1 = performance.now();
  const stats = await collectStats(floatGraph, calibration, {
    floatScaling: config.floatScaling,
    batchSize,
    seed: opts.seed ?? 1,
    onBatch: (d) => progress('calibrate', d, calibration.length),
  });
  const calibrateMs = performance.now() - t1;

  const t2 = performance.now();
  const methods: CalibrationMethod[] = opts.method === 'auto' ? (opts.validation ? [...CALIBRATION_METHODS] : ['minmax']) : [opts.method];
  const candidates: QuantizeReport['candidates'] = [];
  let chosen: { method: CalibrationMethod; params: QuantParams; score?: SplitScore } | undefined;
  let validation: QuantizeReport['validation'];
  let effect: QuantizeReport['input']['effect'];
  const val = opts.validation && opts.validation.images.length > 0 ? opts.validation : undefined;
  if (val && val.images.length !== val.labels.length) throw new Error('validation images and labels differ in length');
  const meta = metadataFor(config);
  let scorer: CandidateScorer | undefined;
  let float: ClassScores | undefined;
  if (val) {
    const exec = new IrExecutor(floatGraph);
    float = await predictScores(exec, val.images, config.inputSize, config.floatScaling, batchSize, (d) => progress('validate float', d, val.images.length));
    exec.dispose();
    scorer = new CandidateScorer({ validation: val, float, meta, inputSize: config.inputSize, input: iq, batchSize, progress }, opts.evaluator ?? 'litert');
  }
  const candidateFiles: Partial<Record<CalibrationMethod, Uint8Array>> = {};
  for (const method of methods) {
    const params = assignQuantParams(qGraph, stats, iq, method, percentile, biasCorrection);
    if (opts.keepCandidates) candidateFiles[method] = writeTflite(buildTfliteModel(qGraph, params, meta, { biasQuantParams: opts.biasQuantParams ?? true }));
    if (val) {
      const s = await scorer!.score(qGraph, params, `validate int8 ${method}`);
      candidates.push({ method, ...s });
      if (!chosen || betterCandidate(s, chosen.score!)) chosen = { method, params, score: s };
    } else {
      candidates.push({ method });
      chosen ??= { method, params };
    }
  }
  if (!chosen) throw new Error('internal: no calibration method evaluated');
  if (val) {
    const floatAccuracy = float!.classes.filter((p, i) => p === val.labels[i]).length / val.images.length;
    validation = { images: val.images.length, floatAccuracy, int8: chosen.score!, evaluator: scorer!.evaluator };
  }
  const validateMs = performance.now() - t2;
  const tOffset = performance.now();
  if (val && chosen.score && opts.measureInputOffset !== false && compensated.length > 0) {
    const uncompensated = await scorer!.score(floatGraph, assignQuantParams(floatGraph, stats, iq, chosen.method, percentile, biasCorrection), 'input offset: uncompensated');
    effect = { shipped: chosen.score, uncompensated, evaluator: scorer!.evaluator };
  }
  const offsetEffectMs = performance.now() - tOffset;

  const t3 = performance.now();
  const tfliteModel = buildTfliteModel(qGraph, chosen.params, meta, { biasQuantParams: opts.biasQuantParams ?? true });
  const tflite = candidateFiles[chosen.method] ?? writeTflite(tfliteModel);
  const writeMs = performance.now() - t3;

  const report: QuantizeReport = {
    schema: 'plastisort.quantize-report/1',
    ...(config.runId ? { runId: config.runId } : {}),
    classes: [...config.classes],
    inputSize: config.inputSize,
    methodRequested: opts.method,
    method: chosen.method,
    percentile,
    biasCorrection,
    candidates,
    ...(validation ? { validation } : {}),
    input: {
      scale: iq.scale,
      zeroPoint: iq.zeroPoint,
      exactZeroPoint: iq.exactZeroPoint,
      residualOffset: iq.residualOffset,
      residualOffsetLsb: iq.residualOffset / iq.scale,
      compensatedInFirstLayer: compensated.length > 0,
      compensatedOps: compensated,
      ...(effect ? { effect } : {}),
    },
    calibration: { images: calibration.length, sampleBudget: 131072 },
    lowering: { notes: floatGraph.notes, ops: opCounts(qGraph) },
    tensors: tensorReports(qGraph, chosen.params, stats),
    sizes: sizeReport(chosen.params, tfliteModel, tflite, opts.biasQuantParams ?? true),
    timings: { lowerMs, calibrateMs, validateMs, offsetEffectMs, writeMs, totalMs: performance.now() - t0 },
  };
  return { tflite, model: tfliteModel, report, graph: qGraph, params: chosen.params, ...(opts.keepCandidates ? { candidateFiles } : {}) };
}
