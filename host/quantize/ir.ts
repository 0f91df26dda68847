/**
 * Float graph IR between a tfjs LayersModel and a TFLite model: TFLite ops, TFLite weight layouts,
 * batch size 1, NHWC. The quantizer calibrates and quantizes this graph; `execute.ts` runs it in float.
 */
import type { Padding } from '../tflite/model.ts';

export type IrActivation = 'NONE' | 'RELU' | 'RELU6';

export interface IrValue {
  id: number;
  /** Keras name of the layer whose output this is (after folding: the last folded layer). */
  name: string;
  /** With the batch dimension (1). */
  shape: number[];
}

interface OpBase {
  /** Keras layer name(s) this op came from, for reports and error messages. */
  name: string;
  inputs: number[];
  output: number;
}

export interface IrConv extends OpBase {
  kind: 'CONV_2D';
  /** TFLite OHWI: [out, kh, kw, in]. */
  weights: Float32Array;
  weightShape: [number, number, number, number];
  bias: Float32Array;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  padding: Padding;
  activation: IrActivation;
}

export interface IrDepthwise extends OpBase {
  kind: 'DEPTHWISE_CONV_2D';
  /** TFLite [1, kh, kw, in*mult], output channel c*mult+m. */
  weights: Float32Array;
  weightShape: [number, number, number, number];
  bias: Float32Array;
  depthMultiplier: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  padding: Padding;
  activation: IrActivation;
}

export interface IrFullyConnected extends OpBase {
  kind: 'FULLY_CONNECTED';
  /** TFLite [out, in]. */
  weights: Float32Array;
  weightShape: [number, number];
  bias: Float32Array;
  activation: IrActivation;
}

export interface IrPad extends OpBase {
  kind: 'PAD';
  /** [[top, bottom], [left, right]] zeros around H and W. */
  paddings: [[number, number], [number, number]];
}

export interface IrAdd extends OpBase {
  kind: 'ADD';
  activation: IrActivation;
}

/** Mean over H and W (axes 1, 2), keep_dims false: [1,H,W,C] → [1,C]. */
export interface IrMean extends OpBase {
  kind: 'MEAN';
}

export interface IrSoftmax extends OpBase {
  kind: 'SOFTMAX';
  beta: number;
}

/** A standalone activation that could not be fused into its producer. */
export interface IrRelu extends OpBase {
  kind: 'RELU' | 'RELU6';
}

export interface IrReshape extends OpBase {
  kind: 'RESHAPE';
  newShape: number[];
}

/** Only during lowering: folded into the producing conv/depthwise/dense, never left in a final graph. */
export interface IrBatchNorm extends OpBase {
  kind: 'BATCH_NORM';
  /** Per channel: y = x * mul + add. */
  mul: Float32Array;
  add: Float32Array;
}

export type IrOp =
  | IrConv
  | IrDepthwise
  | IrFullyConnected
  | IrPad
  | IrAdd
  | IrMean
  | IrSoftmax
  | IrRelu
  | IrReshape
  | IrBatchNorm;

export type IrOpKind = IrOp['kind'];

export interface IrGraph {
  /** Indexed by value id. Values dropped by folding stay in the array but are not referenced. */
  values: IrValue[];
  /** Topological order. */
  ops: IrOp[];
  input: number;
  output: number;
  /** What lowering did (folds, fusions, padding rewrites), one line each, for the quantize report. */
  notes: string[];
}

export function hasWeights(op: IrOp): op is IrConv | IrDepthwise | IrFullyConnected {
  return op.kind === 'CONV_2D' || op.kind === 'DEPTHWISE_CONV_2D' || op.kind === 'FULLY_CONNECTED';
}

export function consumerCounts(graph: IrGraph): Map<number, number> {
  const counts = new Map<number, number>();
  for (const op of graph.ops) for (const i of op.inputs) counts.set(i, (counts.get(i) ?? 0) + 1);
  counts.set(graph.output, (counts.get(graph.output) ?? 0) + 1);
  return counts;
}

/** TF "SAME" padding along one axis: output size and zeros before/after. */
export function samePadding(size: number, kernel: number, stride: number, dilation = 1): { out: number; before: number; after: number } {
  const effK = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effK - size, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

export function validOutput(size: number, kernel: number, stride: number, dilation = 1): number {
  const effK = (kernel - 1) * dilation + 1;
  return Math.floor((size - effK) / stride) + 1;
}

/**
 * Whether zero padding (before, after) followed by a VALID convolution reads exactly the same input
 * positions as a SAME convolution on the unpadded input: the same output count and the same leading pad.
 * Trailing zeros the VALID windows never reach do not matter.
 */
export function padThenValidIsSame(size: number, before: number, after: number, kernel: number, stride: number, dilation = 1): boolean {
  const same = samePadding(size, kernel, stride, dilation);
  const validOut = validOutput(size + before + after, kernel, stride, dilation);
  return validOut === same.out && before === same.before;
}

/** A deep copy (weights and biases too), so that a rewrite of the copy leaves the original intact. */
export function cloneGraph(graph: IrGraph): IrGraph {
  return {
    ...graph,
    values: graph.values.map((v) => ({ ...v, shape: [...v.shape] })),
    ops: graph.ops.map((op) => {
      const c = { ...op, inputs: [...op.inputs] } as IrOp;
      if (hasWeights(c) && hasWeights(op)) {
        c.weights = Float32Array.from(op.weights);
        c.bias = Float32Array.from(op.bias);
      }
      return c;
    }),
    notes: [...graph.notes],
  };
}
