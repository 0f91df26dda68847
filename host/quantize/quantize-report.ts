// The quantize report (quantize-report.json): its schema and the per-tensor and size sections.
import type { TfliteModel } from '../tflite/model.ts';
import type { IrGraph } from './ir.ts';
import type { CalibrationMethod, ValueStats } from './calibrate.ts';
import type { QuantParams } from './int8-params.ts';
import type { Int8Evaluator, SplitScore } from './evaluate-int8.ts';

export interface TensorReport {
  name: string;
  shape: number[];
  /** Observed range over the calibration images. */
  observedMin: number;
  observedMax: number;
  /** Range the int8 grid covers (after clipping and widening to include 0). */
  min: number;
  max: number;
  scale: number;
  zeroPoint: number;
}

export interface QuantizeReport {
  schema: 'plastisort.quantize-report/1';
  runId?: string;
  classes: string[];
  inputSize: number;
  methodRequested: CalibrationMethod | 'auto';
  method: CalibrationMethod;
  percentile: number;
  /** Whether each layer's bias absorbed the mean error of its rounded weights (calibration input means). */
  biasCorrection: boolean;
  /** Validation scores per method tried (absent without validation images). */
  candidates: Array<{ method: CalibrationMethod } & Partial<SplitScore>>;
  validation?: { images: number; floatAccuracy: number; int8: SplitScore; evaluator: Int8Evaluator };
  input: {
    scale: number;
    zeroPoint: number;
    /** The zero point that would match the float scaling exactly (may be fractional). */
    exactZeroPoint: number;
    /** x_int8 − x_float for every pixel, in float input units (0 when exact). */
    residualOffset: number;
    residualOffsetLsb: number;
    compensatedInFirstLayer: boolean;
    compensatedOps: string[];
    /** Int8 validation scores of the shipped model and of the same model without the bias compensation. */
    effect?: { shipped: SplitScore; uncompensated: SplitScore; evaluator: Int8Evaluator };
  };
  calibration: { images: number; sampleBudget: number };
  lowering: { notes: string[]; ops: Record<string, number> };
  tensors: TensorReport[];
  /** biasQuantParams: whether convolution biases carry quantization parameters in the file (see BuildOptions). */
  sizes: { int8WeightBytes: number; int32BiasBytes: number; otherConstantBytes: number; tfliteBytes: number; overheadPercent: number; biasesSaturated: number; biasQuantParams: boolean };
  /** validateMs: float pass and method choice on the val split; offsetEffectMs: the two extra passes of `input.effect`. */
  timings: { lowerMs: number; calibrateMs: number; validateMs: number; offsetEffectMs: number; writeMs: number; totalMs: number };
}

/** Every activation tensor's observed range and the int8 grid chosen for it, input first. */
export function tensorReports(graph: IrGraph, params: QuantParams, stats: Map<number, { min: number; max: number }>): TensorReport[] {
  const tensors: TensorReport[] = [];
  const seen = new Set<number>();
  for (const id of [graph.input, ...graph.ops.map((op) => op.output)]) {
    if (seen.has(id)) continue;
    seen.add(id);
    const q = params.activations.get(id)!;
    const s = stats.get(id);
    tensors.push({ name: graph.values[id]!.name, shape: graph.values[id]!.shape, observedMin: s?.min ?? q.min, observedMax: s?.max ?? q.max, min: q.min, max: q.max, scale: q.scale, zeroPoint: q.zeroPoint });
  }
  return tensors;
}

/** Where the `.tflite` bytes go: int8 weights, int32 biases and the rest. */
export function sizeReport(params: QuantParams, model: TfliteModel, tflite: Uint8Array, biasQuantParams: boolean): QuantizeReport['sizes'] {
  let int8WeightBytes = 0;
  let int32BiasBytes = 0;
  let biasesSaturated = 0;
  for (const q of params.weights.values()) {
    int8WeightBytes += q.weights.byteLength;
    int32BiasBytes += q.bias.byteLength;
    biasesSaturated += q.biasSaturated;
  }
  const allConst = model.buffers.reduce((n, b) => n + b.byteLength, 0);
  return {
    int8WeightBytes,
    int32BiasBytes,
    otherConstantBytes: allConst - int8WeightBytes - int32BiasBytes,
    tfliteBytes: tflite.byteLength,
    overheadPercent: (100 * (tflite.byteLength - int8WeightBytes - int32BiasBytes)) / Math.max(1, int8WeightBytes + int32BiasBytes),
    biasesSaturated,
    biasQuantParams,
  };
}
