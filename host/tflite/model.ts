/**
 * In-memory form of a TFLite model: what the reader returns and the writer serialises.
 * Mirrors the parts of the TFLite flatbuffer schema (schema.fbs) that this project uses; field
 * meanings follow that schema. One subgraph, batch size 1.
 *
 * Contract shared by: tflite/reader.ts, tflite/writer.ts, quantize/, export/, hil/ (HIL), train/
 * (.tflite backbone import).
 */

export type TensorType = 'float32' | 'float16' | 'int32' | 'uint8' | 'int64' | 'bool' | 'int16' | 'int8';

/** TFLite schema TensorType enum values. */
export const TENSOR_TYPE_CODE: Record<TensorType, number> = {
  float32: 0,
  float16: 1,
  int32: 2,
  uint8: 3,
  int64: 4,
  bool: 6,
  int16: 7,
  int8: 9,
};

export type FusedActivation = 'NONE' | 'RELU' | 'RELU_N1_TO_1' | 'RELU6' | 'TANH';
export type Padding = 'SAME' | 'VALID';

export interface Quantization {
  /** One entry per tensor, or one per channel along `quantizedDimension`. */
  scale: number[];
  zeroPoint: number[];
  quantizedDimension?: number;
  /** Calibration range, informative only. */
  min?: number[];
  max?: number[];
}

export interface Tensor {
  name: string;
  shape: number[];
  type: TensorType;
  /** Index into TfliteModel.buffers; buffer 0 is the empty sentinel (activations point there). */
  buffer: number;
  quantization?: Quantization;
}

export interface Conv2DOptions {
  padding: Padding;
  strideW: number;
  strideH: number;
  dilationW: number;
  dilationH: number;
  fusedActivation: FusedActivation;
}

export interface DepthwiseConv2DOptions extends Conv2DOptions {
  depthMultiplier: number;
}

export interface Pool2DOptions {
  padding: Padding;
  strideW: number;
  strideH: number;
  filterWidth: number;
  filterHeight: number;
  fusedActivation: FusedActivation;
}

export interface FullyConnectedOptions {
  fusedActivation: FusedActivation;
  keepNumDims: boolean;
}

export interface AddOptions {
  fusedActivation: FusedActivation;
}

export interface SoftmaxOptions {
  beta: number;
}

export interface ReducerOptions {
  keepDims: boolean;
}

export interface ReshapeOptions {
  newShape: number[];
}

export type Operator =
  | { op: 'CONV_2D'; inputs: number[]; outputs: number[]; options: Conv2DOptions }
  | { op: 'DEPTHWISE_CONV_2D'; inputs: number[]; outputs: number[]; options: DepthwiseConv2DOptions }
  | { op: 'AVERAGE_POOL_2D' | 'MAX_POOL_2D'; inputs: number[]; outputs: number[]; options: Pool2DOptions }
  | { op: 'FULLY_CONNECTED'; inputs: number[]; outputs: number[]; options: FullyConnectedOptions }
  | { op: 'ADD'; inputs: number[]; outputs: number[]; options: AddOptions }
  | { op: 'SOFTMAX'; inputs: number[]; outputs: number[]; options: SoftmaxOptions }
  | { op: 'MEAN'; inputs: number[]; outputs: number[]; options: ReducerOptions }
  | { op: 'RESHAPE'; inputs: number[]; outputs: number[]; options?: ReshapeOptions }
  | { op: 'PAD' | 'QUANTIZE' | 'DEQUANTIZE' | 'RELU6' | 'RELU' | 'LOGISTIC'; inputs: number[]; outputs: number[] }
  /** Anything else the reader meets: kept by name so inspect can report it; the writer refuses it. */
  | { op: 'OTHER'; name: string; builtinCode: number; inputs: number[]; outputs: number[] };

export type OpName = Operator['op'];

export interface TfliteModel {
  /** Schema version, 3 for current files. */
  version: number;
  description: string;
  tensors: Tensor[];
  operators: Operator[];
  inputs: number[];
  outputs: number[];
  /** Raw constant data; index 0 must be empty. */
  buffers: Uint8Array[];
  /** Model-level metadata entries (name → bytes), e.g. 'plastisort' → UTF-8 JSON of PlastisortMetadata. */
  metadata: Record<string, Uint8Array>;
}

/**
 * What the quantizer records in the model for the exporter, the firmware and HIL: labels and the
 * preprocessing contract. Stored as UTF-8 JSON under metadata key 'plastisort'.
 */
export interface PlastisortMetadata {
  schema: 'plastisort.model/1';
  labels: string[];
  inputSize: number;
  /** How a camera byte p (0..255) becomes the int8 input: q = p - 128. */
  inputContract: 'rgb888_minus_128';
  /** Float scaling the float model was trained with, e.g. x/127.5 - 1. */
  floatScaling: { scale: number; offset: number };
  resize: 'squash' | 'center-crop';
  /** SHA-256 of the manifest the model was trained on, for traceability. */
  manifestSha256?: string;
  runId?: string;
}
