import { UserError } from '../util/errors.ts';
import { asBytes, readInputFile } from '../util/read-input.ts';
import type {
  FusedActivation,
  Operator,
  Padding,
  Quantization,
  Tensor,
  TensorType,
  TfliteModel,
} from './model.ts';
import { TENSOR_TYPE_CODE } from './model.ts';
import * as S from './schema.ts';
import { CheckedFlatbuffer, type TableRef } from './checked-flatbuffer.ts';

/**
 * Reads a `.tflite` file into a TfliteModel without trusting a single byte of it: every offset,
 * length and index is checked before use, so a truncated, corrupted or hostile file ends in a
 * one-line UserError and never in an out-of-bounds read, a hang or a huge allocation.
 *
 * Only subgraph 0 is read (the model; further subgraphs are control-flow bodies we never emit).
 * Metadata entries come back in `metadata`; buffers used only by metadata and lying after every
 * tensor buffer are dropped from `buffers`, so a model written by writeTflite reads back equal.
 */
export function readTflite(bytes: Uint8Array, source = '<bytes>'): TfliteModel {
  const fb = new CheckedFlatbuffer(bytes, source);
  return parseModel(fb, source);
}

/**
 * File offset and length of each buffer's data (length 0 and offset 0 for empty buffers), for checks
 * of the layout: the writer aligns every data start to 16 bytes, and firmware may rely on it.
 */
export function readBufferLayout(bytes: Uint8Array, source = '<bytes>'): { offset: number; length: number }[] {
  const fb = new CheckedFlatbuffer(bytes, source);
  if (bytes.length < 8) fb.notTflite(`only ${bytes.length} bytes`);
  const root = fb.table(fb.deref(0, 'root offset'), 'Model');
  return fb.tables(root, S.Model.buffers, 'Model.buffers').map((t, i) => {
    const v = fb.vector(t, S.Buffer.data, 1, `buffers[${i}].data`);
    return v ? { offset: v.start, length: v.length } : { offset: 0, length: 0 };
  });
}

/**
 * Bytes the file spends on quantization parameter vectors (scale, zero_point, min, max of subgraph 0's
 * tensors), each distinct vector counted once however many tensors point at it, with its length
 * prefix; `references` counts the pointers. Call after readTflite has accepted the bytes.
 */
export function readQuantizationVectorBytes(bytes: Uint8Array, source = '<bytes>'): { bytes: number; vectors: number; references: number } {
  const fb = new CheckedFlatbuffer(bytes, source);
  if (bytes.length < 8) fb.notTflite(`only ${bytes.length} bytes`);
  const root = fb.table(fb.deref(0, 'root offset'), 'Model');
  const sg = fb.tables(root, S.Model.subgraphs, 'Model.subgraphs')[0];
  const seen = new Map<number, number>();
  let references = 0;
  if (sg) {
    fb.tables(sg, S.SubGraph.tensors, 'SubGraph.tensors').forEach((t, i) => {
      const q = fb.subtable(t, S.Tensor.quantization, `tensors[${i}].quantization`);
      if (!q) return;
      const fields: [number, number][] = [
        [S.QuantizationParameters.scale, 4],
        [S.QuantizationParameters.zeroPoint, 8],
        [S.QuantizationParameters.min, 4],
        [S.QuantizationParameters.max, 4],
      ];
      for (const [id, width] of fields) {
        const v = fb.vector(q, id, width, `tensors[${i}].quantization`);
        if (!v) continue;
        references++;
        seen.set(v.start, 4 + width * v.length);
      }
    });
  }
  return { bytes: [...seen.values()].reduce((a, b) => a + b, 0), vectors: seen.size, references };
}

export async function readTfliteFile(path: string): Promise<TfliteModel> {
  const bytes = await readInputFile(path, 'the file', 'check the path');
  return readTflite(asBytes(bytes), path);
}

// ---------------------------------------------------------------------------------------------
// Model decoding

const TYPE_BY_CODE = new Map<number, TensorType>(
  Object.entries(TENSOR_TYPE_CODE).map(([name, code]) => [code, name as TensorType]),
);
const ACTIVATION_BY_CODE = new Map<number, FusedActivation>(
  (Object.entries(S.ActivationFunctionType) as [string, number][])
    .filter(([name]) => name !== 'SIGN_BIT')
    .map(([name, code]) => [code, name as FusedActivation]),
);

function parseModel(fb: CheckedFlatbuffer, source: string): TfliteModel {
  const bytes = fb.bytes;
  if (bytes.length < 8) fb.notTflite(`only ${bytes.length} bytes`);
  const ident = String.fromCharCode(bytes[4]!, bytes[5]!, bytes[6]!, bytes[7]!);
  if (ident !== S.FILE_IDENTIFIER) {
    fb.notTflite(`file identifier is ${JSON.stringify(ident)}, expected "${S.FILE_IDENTIFIER}"`);
  }
  const root = fb.table(fb.deref(0, 'root offset'), 'Model');
  const version = fb.scalarU32(root, S.Model.version, 0);
  if (version !== S.SCHEMA_VERSION) {
    fb.notTflite(`schema version ${version}, this reader handles version ${S.SCHEMA_VERSION}`);
  }
  const description = fb.string(root, S.Model.description, 'Model.description') ?? '';

  const bufferTables = fb.tables(root, S.Model.buffers, 'Model.buffers');
  const buffers = bufferTables.map((t, i) => readBuffer(fb, t, i));
  if (buffers.length === 0) fb.notTflite('it has no buffers (buffer 0 must exist)');

  const opCodes = fb.tables(root, S.Model.operatorCodes, 'Model.operator_codes').map((t, i) => {
    const deprecated = fb.scalarI8(t, S.OperatorCode.deprecatedBuiltinCode, 0);
    const extended = fb.scalarI32(t, S.OperatorCode.builtinCode, 0);
    const code = Math.max(deprecated, extended);
    const custom = fb.string(t, S.OperatorCode.customCode, `operator_codes[${i}].custom_code`);
    return { code, custom };
  });

  const subgraphs = fb.tables(root, S.Model.subgraphs, 'Model.subgraphs');
  if (subgraphs.length === 0) fb.notTflite('it has no subgraph');
  const sg = subgraphs[0]!;

  const tensorTables = fb.tables(sg, S.SubGraph.tensors, 'SubGraph.tensors');
  const tensors = tensorTables.map((t, i) => readTensor(fb, t, i, buffers.length, source));
  const nT = tensors.length;
  const checkTensorIndex = (where: string, idx: number, optional: boolean): number => {
    if (idx >= nT || idx < (optional ? -1 : 0)) {
      throw new UserError(`${source}: corrupt TFLite file (${where} refers to tensor ${idx}, the model has ${nT})`);
    }
    return idx;
  };
  const inputs = fb.i32s(sg, S.SubGraph.inputs, 'SubGraph.inputs').map((i) => checkTensorIndex('model input', i, false));
  const outputs = fb
    .i32s(sg, S.SubGraph.outputs, 'SubGraph.outputs')
    .map((i) => checkTensorIndex('model output', i, false));

  const operators = fb.tables(sg, S.SubGraph.operators, 'SubGraph.operators').map((t, k): Operator => {
    const what = `operators[${k}]`;
    const opcodeIndex = fb.scalarU32(t, S.Operator.opcodeIndex, 0);
    const opcode = opCodes[opcodeIndex];
    if (!opcode) {
      throw new UserError(
        `${source}: corrupt TFLite file (${what} uses operator code ${opcodeIndex}, the model has ${opCodes.length})`,
      );
    }
    const opInputs = fb.i32s(t, S.Operator.inputs, `${what}.inputs`).map((i) => checkTensorIndex(`${what} input`, i, true));
    const opOutputs = fb
      .i32s(t, S.Operator.outputs, `${what}.outputs`)
      .map((i) => checkTensorIndex(`${what} output`, i, false));
    const optionsType = fb.scalarU8(t, S.Operator.builtinOptionsType, 0);
    const options = optionsType ? fb.subtable(t, S.Operator.builtinOptions, `${what}.builtin_options`) : undefined;
    return decodeOperator(fb, opcode, opInputs, opOutputs, optionsType, options);
  });

  // Metadata: name → bytes of the buffer it points at.
  const metadata: Record<string, Uint8Array> = {};
  const metadataBuffers = new Set<number>();
  for (const [i, t] of fb.tables(root, S.Model.metadata, 'Model.metadata').entries()) {
    const name = fb.string(t, S.Metadata.name, `metadata[${i}].name`) ?? '';
    const bufferIndex = fb.scalarU32(t, S.Metadata.buffer, 0);
    const data = buffers[bufferIndex];
    if (!data) {
      throw new UserError(
        `${source}: corrupt TFLite file (metadata "${name}" points at buffer ${bufferIndex}, the model has ${buffers.length})`,
      );
    }
    metadata[name] = data.slice();
    metadataBuffers.add(bufferIndex);
  }
  const tensorBufferMax = tensors.reduce((m, t) => Math.max(m, t.buffer), 0);
  let keep = buffers.length;
  while (keep - 1 > tensorBufferMax && metadataBuffers.has(keep - 1)) keep--;

  return {
    version,
    description,
    tensors,
    operators,
    inputs,
    outputs,
    buffers: buffers.slice(0, keep),
    metadata,
  };
}

function readBuffer(fb: CheckedFlatbuffer, t: TableRef, i: number): Uint8Array {
  const data = fb.bytesOf(t, S.Buffer.data, `buffers[${i}].data`);
  if (data) return data;
  // Models over 2 GB keep data outside the flatbuffer at a file offset; offsets <= 1 mean "none".
  const offset = fb.scalarU64(t, S.Buffer.offset, 0);
  const size = fb.scalarU64(t, S.Buffer.size, 0);
  if (offset > 1) {
    if (offset + size > fb.bytes.length) fb.truncated(`buffers[${i}] external data (${size} bytes)`, offset);
    return fb.bytes.slice(offset, offset + size);
  }
  return new Uint8Array(0);
}

function readTensor(fb: CheckedFlatbuffer, t: TableRef, i: number, nBuffers: number, source: string): Tensor {
  const what = `tensors[${i}]`;
  const name = fb.string(t, S.Tensor.name, `${what}.name`) ?? '';
  const shape = fb.i32s(t, S.Tensor.shape, `${what}.shape`);
  const typeCode = fb.scalarI8(t, S.Tensor.type, 0);
  const type = TYPE_BY_CODE.get(typeCode);
  if (!type) {
    throw new UserError(
      `${source}: tensor ${i} (${name}) has TensorType code ${typeCode}, which this tool does not handle; only ${[...TYPE_BY_CODE.values()].join(', ')} are supported`,
    );
  }
  if (shape.some((d) => d < 0)) {
    throw new UserError(`${source}: corrupt TFLite file (tensor ${i} (${name}) has shape [${shape.join(',')}])`);
  }
  const buffer = fb.scalarU32(t, S.Tensor.buffer, 0);
  if (buffer >= nBuffers) {
    throw new UserError(
      `${source}: corrupt TFLite file (tensor ${i} (${name}) points at buffer ${buffer}, the model has ${nBuffers})`,
    );
  }
  const tensor: Tensor = { name, shape, type, buffer };
  const qt = fb.subtable(t, S.Tensor.quantization, `${what}.quantization`);
  if (qt) {
    const scale = fb.f32s(qt, S.QuantizationParameters.scale, `${what}.quantization.scale`);
    if (scale.length > 0) {
      const q: Quantization = {
        scale,
        zeroPoint: fb.i64s(qt, S.QuantizationParameters.zeroPoint, `${what}.quantization.zero_point`),
      };
      if (fb.has(qt, S.QuantizationParameters.quantizedDimension)) {
        q.quantizedDimension = fb.scalarI32(qt, S.QuantizationParameters.quantizedDimension, 0);
      }
      const min = fb.f32s(qt, S.QuantizationParameters.min, `${what}.quantization.min`);
      const max = fb.f32s(qt, S.QuantizationParameters.max, `${what}.quantization.max`);
      if (min.length) q.min = min;
      if (max.length) q.max = max;
      tensor.quantization = q;
    }
  }
  return tensor;
}

function activation(fb: CheckedFlatbuffer, code: number): FusedActivation {
  const a = ACTIVATION_BY_CODE.get(code);
  if (!a) throw new UserError(`${fb.source}: unsupported fused activation code ${code}`);
  return a;
}

function padding(code: number): Padding {
  return code === S.Padding.VALID ? 'VALID' : 'SAME';
}

function decodeOperator(
  fb: CheckedFlatbuffer,
  opcode: { code: number; custom: string | undefined },
  inputs: number[],
  outputs: number[],
  optionsType: number,
  o: TableRef | undefined,
): Operator {
  const B = S.BuiltinOperator;
  const T = S.BuiltinOptionsType;
  // Options of another type than the op expects are ignored: a reader must not misinterpret them.
  const opt = (expected: number): TableRef | undefined => (optionsType === expected ? o : undefined);
  const i8 = (t: TableRef | undefined, id: number, d: number) => (t ? fb.scalarI8(t, id, d) : d);
  const i32 = (t: TableRef | undefined, id: number, d: number) => (t ? fb.scalarI32(t, id, d) : d);
  switch (opcode.code) {
    case B.CONV_2D: {
      const t = opt(T.Conv2DOptions);
      const C = S.Conv2DOptions;
      return {
        op: 'CONV_2D',
        inputs,
        outputs,
        options: {
          padding: padding(i8(t, C.padding, 0)),
          strideW: i32(t, C.strideW, 0),
          strideH: i32(t, C.strideH, 0),
          dilationW: i32(t, C.dilationW, 1),
          dilationH: i32(t, C.dilationH, 1),
          fusedActivation: activation(fb, i8(t, C.fusedActivation, 0)),
        },
      };
    }
    case B.DEPTHWISE_CONV_2D: {
      const t = opt(T.DepthwiseConv2DOptions);
      const C = S.DepthwiseConv2DOptions;
      return {
        op: 'DEPTHWISE_CONV_2D',
        inputs,
        outputs,
        options: {
          padding: padding(i8(t, C.padding, 0)),
          strideW: i32(t, C.strideW, 0),
          strideH: i32(t, C.strideH, 0),
          dilationW: i32(t, C.dilationW, 1),
          dilationH: i32(t, C.dilationH, 1),
          fusedActivation: activation(fb, i8(t, C.fusedActivation, 0)),
          depthMultiplier: i32(t, C.depthMultiplier, 0),
        },
      };
    }
    case B.AVERAGE_POOL_2D:
    case B.MAX_POOL_2D: {
      const t = opt(T.Pool2DOptions);
      const P = S.Pool2DOptions;
      return {
        op: opcode.code === B.AVERAGE_POOL_2D ? 'AVERAGE_POOL_2D' : 'MAX_POOL_2D',
        inputs,
        outputs,
        options: {
          padding: padding(i8(t, P.padding, 0)),
          strideW: i32(t, P.strideW, 0),
          strideH: i32(t, P.strideH, 0),
          filterWidth: i32(t, P.filterWidth, 0),
          filterHeight: i32(t, P.filterHeight, 0),
          fusedActivation: activation(fb, i8(t, P.fusedActivation, 0)),
        },
      };
    }
    case B.FULLY_CONNECTED: {
      const t = opt(T.FullyConnectedOptions);
      const F = S.FullyConnectedOptions;
      return {
        op: 'FULLY_CONNECTED',
        inputs,
        outputs,
        options: {
          fusedActivation: activation(fb, i8(t, F.fusedActivation, 0)),
          keepNumDims: i8(t, F.keepNumDims, 0) !== 0,
        },
      };
    }
    case B.ADD: {
      const t = opt(T.AddOptions);
      return { op: 'ADD', inputs, outputs, options: { fusedActivation: activation(fb, i8(t, S.AddOptions.fusedActivation, 0)) } };
    }
    case B.SOFTMAX: {
      const t = opt(T.SoftmaxOptions);
      return { op: 'SOFTMAX', inputs, outputs, options: { beta: t ? fb.scalarF32(t, S.SoftmaxOptions.beta, 0) : 0 } };
    }
    case B.MEAN: {
      const t = opt(T.ReducerOptions);
      return { op: 'MEAN', inputs, outputs, options: { keepDims: i8(t, S.ReducerOptions.keepDims, 0) !== 0 } };
    }
    case B.RESHAPE: {
      const t = opt(T.ReshapeOptions);
      if (!t) return { op: 'RESHAPE', inputs, outputs };
      return { op: 'RESHAPE', inputs, outputs, options: { newShape: fb.i32s(t, S.ReshapeOptions.newShape, 'ReshapeOptions.new_shape') } };
    }
    case B.PAD:
      return { op: 'PAD', inputs, outputs };
    case B.QUANTIZE:
      return { op: 'QUANTIZE', inputs, outputs };
    case B.DEQUANTIZE:
      return { op: 'DEQUANTIZE', inputs, outputs };
    case B.RELU6:
      return { op: 'RELU6', inputs, outputs };
    case B.RELU:
      return { op: 'RELU', inputs, outputs };
    case B.LOGISTIC:
      return { op: 'LOGISTIC', inputs, outputs };
    default: {
      const name =
        opcode.code === B.CUSTOM ? `CUSTOM:${opcode.custom ?? ''}` : S.builtinOperatorName(opcode.code);
      return { op: 'OTHER', name, builtinCode: opcode.code, inputs, outputs };
    }
  }
}
