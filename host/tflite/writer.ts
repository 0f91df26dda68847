import { Builder, type Offset } from 'flatbuffers';
import { UserError } from '../util/errors.ts';
import {
  TENSOR_TYPE_CODE,
  type FusedActivation,
  type Operator as ModelOperator,
  type OpName,
  type Padding as ModelPadding,
  type TfliteModel,
} from './model.ts';
import * as S from './schema.ts';
import { validateTfliteModel } from './validate.ts';
import { VectorWriter, alignedByteVector, int32Vector, offsetVector } from './flatbuffer-vectors.ts';

export interface WriteOptions {
  /**
   * Write each distinct shape and quantization vector (scale, zero_point, min, max) once and point
   * every tensor that uses it at that one copy (default true). false writes one copy per tensor, as
   * TFLite's converter does; runtimes read both forms alike.
   */
  shareVectors?: boolean;
}

/**
 * Serialises a TfliteModel into a `.tflite` flatbuffer (schema version 3, file identifier "TFL3").
 *
 * Choices that matter to runtimes:
 * - every constant buffer's bytes start on a 16-byte boundary of the file (TFLM and XNNPACK read
 *   weights in place);
 * - empty vectors are omitted rather than written (some readers treat a present-but-empty vector as
 *   data), and buffer 0 is an empty table;
 * - options are written in full (strides, dilations, softmax beta) instead of relying on defaults;
 * - each operator code carries both `deprecated_builtin_code` and `builtin_code`;
 * - one signature ("serving_default") names the inputs and outputs, and each `model.metadata` entry
 *   becomes a Metadata table pointing at a buffer appended after the model's own buffers;
 * - identical quantization vectors and shapes are written once and referenced from every table that
 *   uses them (see WriteOptions.shareVectors): a flatbuffer field holds an offset, and nothing in the
 *   format requires two offsets to differ. Per-channel zero points (all zero, one int64 per channel)
 *   otherwise cost more bytes than a depthwise filter's weights.
 *
 * Nothing is written for an inconsistent model: index errors and every problem validateTfliteModel
 * finds (buffer sizes, op shapes) end in a UserError naming the tensor or operator.
 */
export function writeTflite(model: TfliteModel, options: WriteOptions = {}): Uint8Array {
  validateForWrite(model);
  const vectors = new VectorWriter(options.shareVectors ?? true);
  const metadataNames = Object.keys(model.metadata);
  const totalData =
    model.buffers.reduce((n, b) => n + b.length + S.BUFFER_ALIGNMENT, 0) +
    metadataNames.reduce((n, k) => n + model.metadata[k]!.length + S.BUFFER_ALIGNMENT, 0);
  const b = new Builder(Math.max(1024, totalData + 64 * 1024 + model.tensors.length * 256));

  // Operator codes: one per (op, version) in first-use order.
  const codeKeys: string[] = [];
  const codeOf = new Map<string, number>();
  const opCodeIndex: number[] = [];
  for (const op of model.operators) {
    const code = builtinCodeOf(op);
    const key = `${code}:${opVersion(model, op)}`;
    let idx = codeOf.get(key);
    if (idx === undefined) {
      idx = codeKeys.length;
      codeKeys.push(key);
      codeOf.set(key, idx);
    }
    opCodeIndex.push(idx);
  }

  // Large byte vectors first so they sit at the end of the file, away from the tables.
  const allBuffers = [...model.buffers, ...metadataNames.map((k) => model.metadata[k]!)];
  const bufferDataOffsets = allBuffers.map((data) => (data.length > 0 ? alignedByteVector(b, data) : 0));
  const bufferOffsets = bufferDataOffsets.map((dataOff) => {
    b.startObject(3);
    if (dataOff) b.addFieldOffset(S.Buffer.data, dataOff, 0);
    return b.endObject();
  });

  const opCodeOffsets = codeKeys.map((key) => {
    const [codeStr, versionStr] = key.split(':');
    const code = Number(codeStr);
    b.startObject(4);
    b.addFieldInt8(S.OperatorCode.deprecatedBuiltinCode, Math.min(code, S.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES), null);
    b.addFieldInt32(S.OperatorCode.version, Number(versionStr), null);
    b.addFieldInt32(S.OperatorCode.builtinCode, code, null);
    return b.endObject();
  });

  const tensorOffsets = model.tensors.map((t) => {
    const name = t.name ? b.createString(t.name) : 0;
    const shape = t.shape.length ? vectors.int32(b, t.shape) : 0;
    let quant = 0;
    const q = t.quantization;
    if (q) {
      const scale = q.scale.length ? vectors.float32(b, q.scale) : 0;
      const zp = q.zeroPoint.length ? vectors.int64(b, q.zeroPoint) : 0;
      const min = q.min?.length ? vectors.float32(b, q.min) : 0;
      const max = q.max?.length ? vectors.float32(b, q.max) : 0;
      b.startObject(7);
      if (min) b.addFieldOffset(S.QuantizationParameters.min, min, 0);
      if (max) b.addFieldOffset(S.QuantizationParameters.max, max, 0);
      if (scale) b.addFieldOffset(S.QuantizationParameters.scale, scale, 0);
      if (zp) b.addFieldOffset(S.QuantizationParameters.zeroPoint, zp, 0);
      if (q.quantizedDimension !== undefined) {
        b.addFieldInt32(S.QuantizationParameters.quantizedDimension, q.quantizedDimension, null);
      }
      quant = b.endObject();
    }
    b.startObject(9);
    if (shape) b.addFieldOffset(S.Tensor.shape, shape, 0);
    b.addFieldInt8(S.Tensor.type, TENSOR_TYPE_CODE[t.type], null);
    b.addFieldInt32(S.Tensor.buffer, t.buffer, null);
    if (name) b.addFieldOffset(S.Tensor.name, name, 0);
    if (quant) b.addFieldOffset(S.Tensor.quantization, quant, 0);
    return b.endObject();
  });

  const operatorOffsets = model.operators.map((op, i) => {
    const inputs = op.inputs.length ? int32Vector(b, op.inputs) : 0;
    const outputs = op.outputs.length ? int32Vector(b, op.outputs) : 0;
    const [optionsType, options] = writeOptions(b, op);
    b.startObject(9);
    b.addFieldInt32(S.Operator.opcodeIndex, opCodeIndex[i]!, null);
    if (inputs) b.addFieldOffset(S.Operator.inputs, inputs, 0);
    if (outputs) b.addFieldOffset(S.Operator.outputs, outputs, 0);
    if (optionsType) {
      b.addFieldInt8(S.Operator.builtinOptionsType, optionsType, 0);
      b.addFieldOffset(S.Operator.builtinOptions, options, 0);
    }
    return b.endObject();
  });

  const sgTensors = model.tensors.length ? offsetVector(b, tensorOffsets) : 0;
  const sgInputs = model.inputs.length ? int32Vector(b, model.inputs) : 0;
  const sgOutputs = model.outputs.length ? int32Vector(b, model.outputs) : 0;
  const sgOperators = model.operators.length ? offsetVector(b, operatorOffsets) : 0;
  const sgName = b.createString('main');
  b.startObject(5);
  if (sgTensors) b.addFieldOffset(S.SubGraph.tensors, sgTensors, 0);
  if (sgInputs) b.addFieldOffset(S.SubGraph.inputs, sgInputs, 0);
  if (sgOutputs) b.addFieldOffset(S.SubGraph.outputs, sgOutputs, 0);
  if (sgOperators) b.addFieldOffset(S.SubGraph.operators, sgOperators, 0);
  b.addFieldOffset(S.SubGraph.name, sgName, 0);
  const subgraph = b.endObject();

  const metadataOffsets = metadataNames.map((name, i) => {
    const nameOff = b.createString(name);
    b.startObject(2);
    b.addFieldOffset(S.Metadata.name, nameOff, 0);
    b.addFieldInt32(S.Metadata.buffer, model.buffers.length + i, null);
    return b.endObject();
  });

  const signature = writeSignature(b, model);

  const opCodes = opCodeOffsets.length ? offsetVector(b, opCodeOffsets) : 0;
  const subgraphs = offsetVector(b, [subgraph]);
  const description = model.description ? b.createString(model.description) : 0;
  const buffers = offsetVector(b, bufferOffsets);
  const metadata = metadataOffsets.length ? offsetVector(b, metadataOffsets) : 0;
  const signatures = offsetVector(b, [signature]);

  b.startObject(8);
  b.addFieldInt32(S.Model.version, model.version, null);
  if (opCodes) b.addFieldOffset(S.Model.operatorCodes, opCodes, 0);
  b.addFieldOffset(S.Model.subgraphs, subgraphs, 0);
  if (description) b.addFieldOffset(S.Model.description, description, 0);
  b.addFieldOffset(S.Model.buffers, buffers, 0);
  if (metadata) b.addFieldOffset(S.Model.metadata, metadata, 0);
  b.addFieldOffset(S.Model.signatureDefs, signatures, 0);
  const root = b.endObject();
  b.finish(root, S.FILE_IDENTIFIER);
  // asUint8Array is a view into the builder's larger backing store; copy so callers hold only the file.
  return b.asUint8Array().slice();
}

function validateForWrite(model: TfliteModel): void {
  const fail = (what: string): never => {
    throw new UserError(`cannot write TFLite model: ${what}`);
  };
  if (model.buffers.length === 0 || model.buffers[0]!.length !== 0) {
    fail('buffer 0 must exist and be empty (the sentinel for tensors without data)');
  }
  const nT = model.tensors.length;
  model.tensors.forEach((t, i) => {
    if (!Number.isInteger(t.buffer) || t.buffer < 0 || t.buffer >= model.buffers.length) {
      fail(`tensor ${i} (${t.name}) points at buffer ${t.buffer}, but there are ${model.buffers.length}`);
    }
    if (!(t.type in TENSOR_TYPE_CODE)) fail(`tensor ${i} (${t.name}) has unknown type ${String(t.type)}`);
    if (t.shape.some((d) => !Number.isInteger(d) || d < 0)) {
      fail(`tensor ${i} (${t.name}) has an invalid shape [${t.shape.join(',')}]`);
    }
    const q = t.quantization;
    if (q && q.scale.length !== q.zeroPoint.length) {
      fail(`tensor ${i} (${t.name}) has ${q.scale.length} scales but ${q.zeroPoint.length} zero points`);
    }
  });
  const checkIndex = (where: string, idx: number, optional: boolean) => {
    if (!Number.isInteger(idx) || idx >= nT || idx < (optional ? -1 : 0)) {
      fail(`${where} refers to tensor ${idx}, but there are ${nT} tensors`);
    }
  };
  model.inputs.forEach((i) => checkIndex('model input', i, false));
  model.outputs.forEach((i) => checkIndex('model output', i, false));
  model.operators.forEach((op, k) => {
    if (op.op === 'OTHER') fail(`operator ${k} is ${op.name}, which this writer does not support`);
    op.inputs.forEach((i) => checkIndex(`operator ${k} (${op.op}) input`, i, true));
    op.outputs.forEach((i) => checkIndex(`operator ${k} (${op.op}) output`, i, false));
  });
  for (const name of Object.keys(model.metadata)) {
    if (!name) fail('a metadata entry has an empty name');
  }
  const problems = validateTfliteModel(model);
  if (problems.length > 0) {
    fail(problems[0]! + (problems.length > 1 ? ` (and ${problems.length - 1} more problems)` : ''));
  }
}

const BUILTIN_CODE: Record<Exclude<OpName, 'OTHER'>, number> = {
  CONV_2D: S.BuiltinOperator.CONV_2D,
  DEPTHWISE_CONV_2D: S.BuiltinOperator.DEPTHWISE_CONV_2D,
  AVERAGE_POOL_2D: S.BuiltinOperator.AVERAGE_POOL_2D,
  MAX_POOL_2D: S.BuiltinOperator.MAX_POOL_2D,
  FULLY_CONNECTED: S.BuiltinOperator.FULLY_CONNECTED,
  ADD: S.BuiltinOperator.ADD,
  SOFTMAX: S.BuiltinOperator.SOFTMAX,
  MEAN: S.BuiltinOperator.MEAN,
  RESHAPE: S.BuiltinOperator.RESHAPE,
  PAD: S.BuiltinOperator.PAD,
  QUANTIZE: S.BuiltinOperator.QUANTIZE,
  DEQUANTIZE: S.BuiltinOperator.DEQUANTIZE,
  RELU6: S.BuiltinOperator.RELU6,
  RELU: S.BuiltinOperator.RELU,
  LOGISTIC: S.BuiltinOperator.LOGISTIC,
};

function builtinCodeOf(op: ModelOperator): number {
  if (op.op === 'OTHER') return op.builtinCode;
  return BUILTIN_CODE[op.op];
}

/**
 * Operator versions as the TFLite converter assigns them for the tensor types we emit: int8 kernels
 * were introduced at these versions. TFLM ignores versions; LiteRT checks them against its registry.
 */
const INT8_OP_VERSION: Partial<Record<OpName, number>> = {
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 3,
  FULLY_CONNECTED: 4,
  ADD: 2,
  SOFTMAX: 2,
  MEAN: 2,
  AVERAGE_POOL_2D: 2,
  MAX_POOL_2D: 2,
  PAD: 2,
  QUANTIZE: 2,
  DEQUANTIZE: 2,
  RELU6: 2,
  RELU: 2,
  LOGISTIC: 2,
};

function opVersion(model: TfliteModel, op: ModelOperator): number {
  const first = op.inputs.find((i) => i >= 0);
  const type = first === undefined ? undefined : model.tensors[first]?.type;
  if (type === 'int8') return INT8_OP_VERSION[op.op] ?? 1;
  return 1;
}

const ACTIVATION: Record<FusedActivation, number> = S.ActivationFunctionType;
const PADDING: Record<ModelPadding, number> = S.Padding;

function writeOptions(b: Builder, op: ModelOperator): [number, Offset] {
  switch (op.op) {
    case 'CONV_2D': {
      const o = op.options;
      b.startObject(7);
      b.addFieldInt8(S.Conv2DOptions.padding, PADDING[o.padding], null);
      b.addFieldInt32(S.Conv2DOptions.strideW, o.strideW, null);
      b.addFieldInt32(S.Conv2DOptions.strideH, o.strideH, null);
      b.addFieldInt8(S.Conv2DOptions.fusedActivation, ACTIVATION[o.fusedActivation], null);
      b.addFieldInt32(S.Conv2DOptions.dilationW, o.dilationW, null);
      b.addFieldInt32(S.Conv2DOptions.dilationH, o.dilationH, null);
      return [S.BuiltinOptionsType.Conv2DOptions, b.endObject()];
    }
    case 'DEPTHWISE_CONV_2D': {
      const o = op.options;
      b.startObject(7);
      b.addFieldInt8(S.DepthwiseConv2DOptions.padding, PADDING[o.padding], null);
      b.addFieldInt32(S.DepthwiseConv2DOptions.strideW, o.strideW, null);
      b.addFieldInt32(S.DepthwiseConv2DOptions.strideH, o.strideH, null);
      b.addFieldInt32(S.DepthwiseConv2DOptions.depthMultiplier, o.depthMultiplier, null);
      b.addFieldInt8(S.DepthwiseConv2DOptions.fusedActivation, ACTIVATION[o.fusedActivation], null);
      b.addFieldInt32(S.DepthwiseConv2DOptions.dilationW, o.dilationW, null);
      b.addFieldInt32(S.DepthwiseConv2DOptions.dilationH, o.dilationH, null);
      return [S.BuiltinOptionsType.DepthwiseConv2DOptions, b.endObject()];
    }
    case 'AVERAGE_POOL_2D':
    case 'MAX_POOL_2D': {
      const o = op.options;
      b.startObject(6);
      b.addFieldInt8(S.Pool2DOptions.padding, PADDING[o.padding], null);
      b.addFieldInt32(S.Pool2DOptions.strideW, o.strideW, null);
      b.addFieldInt32(S.Pool2DOptions.strideH, o.strideH, null);
      b.addFieldInt32(S.Pool2DOptions.filterWidth, o.filterWidth, null);
      b.addFieldInt32(S.Pool2DOptions.filterHeight, o.filterHeight, null);
      b.addFieldInt8(S.Pool2DOptions.fusedActivation, ACTIVATION[o.fusedActivation], null);
      return [S.BuiltinOptionsType.Pool2DOptions, b.endObject()];
    }
    case 'FULLY_CONNECTED': {
      const o = op.options;
      b.startObject(4);
      b.addFieldInt8(S.FullyConnectedOptions.fusedActivation, ACTIVATION[o.fusedActivation], null);
      b.addFieldInt8(S.FullyConnectedOptions.weightsFormat, 0, null);
      b.addFieldInt8(S.FullyConnectedOptions.keepNumDims, o.keepNumDims ? 1 : 0, null);
      return [S.BuiltinOptionsType.FullyConnectedOptions, b.endObject()];
    }
    case 'ADD': {
      b.startObject(2);
      b.addFieldInt8(S.AddOptions.fusedActivation, ACTIVATION[op.options.fusedActivation], null);
      return [S.BuiltinOptionsType.AddOptions, b.endObject()];
    }
    case 'SOFTMAX': {
      b.startObject(1);
      b.addFieldFloat32(S.SoftmaxOptions.beta, op.options.beta, null);
      return [S.BuiltinOptionsType.SoftmaxOptions, b.endObject()];
    }
    case 'MEAN': {
      b.startObject(1);
      b.addFieldInt8(S.ReducerOptions.keepDims, op.options.keepDims ? 1 : 0, null);
      return [S.BuiltinOptionsType.ReducerOptions, b.endObject()];
    }
    case 'RESHAPE': {
      if (!op.options) return [S.BuiltinOptionsType.NONE, 0];
      const shape = op.options.newShape.length ? int32Vector(b, op.options.newShape) : 0;
      b.startObject(1);
      if (shape) b.addFieldOffset(S.ReshapeOptions.newShape, shape, 0);
      return [S.BuiltinOptionsType.ReshapeOptions, b.endObject()];
    }
    case 'PAD': {
      b.startObject(0);
      return [S.BuiltinOptionsType.PadOptions, b.endObject()];
    }
    default:
      return [S.BuiltinOptionsType.NONE, 0];
  }
}

function writeSignature(b: Builder, model: TfliteModel): Offset {
  const tensorMaps = (indices: number[], prefix: string) =>
    indices.map((idx, k) => {
      const name = b.createString(model.tensors[idx]?.name || `${prefix}_${k}`);
      b.startObject(2);
      b.addFieldOffset(S.TensorMap.name, name, 0);
      b.addFieldInt32(S.TensorMap.tensorIndex, idx, null);
      return b.endObject();
    });
  const inMaps = tensorMaps(model.inputs, 'input');
  const outMaps = tensorMaps(model.outputs, 'output');
  const inputs = inMaps.length ? offsetVector(b, inMaps) : 0;
  const outputs = outMaps.length ? offsetVector(b, outMaps) : 0;
  const key = b.createString('serving_default');
  b.startObject(5);
  if (inputs) b.addFieldOffset(S.SignatureDef.inputs, inputs, 0);
  if (outputs) b.addFieldOffset(S.SignatureDef.outputs, outputs, 0);
  b.addFieldOffset(S.SignatureDef.signatureKey, key, 0);
  b.addFieldInt32(S.SignatureDef.subgraphIndex, 0, null);
  return b.endObject();
}
