import { describe, expect, it } from 'vitest';
import { readBufferLayout, readTflite } from '../../host/tflite/reader.ts';
import { getPlastisortMetadata, withPlastisortMetadata } from '../../host/tflite/plastisort-metadata.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import type { PlastisortMetadata, TfliteModel } from '../../host/tflite/model.ts';
import { UserError } from '../../host/util/errors.ts';
import { BUILTIN_OPERATOR_NAMES } from '../../host/tflite/schema.ts';
import { floatChainModel, int8ChainModel } from './models.ts';
import { Builder } from 'flatbuffers';
import * as S from '../../host/tflite/schema.ts';
import { inspectModel } from '../../host/tflite/inspect.ts';

/**
 * A minimal file with one tensor and one operator per given operator code, written field by field, for
 * codes our writer refuses to emit: an extended builtin (deprecated field 127) and a custom op.
 */
function fileWithOpCodes(codes: { builtin: number; deprecated: number; custom?: string }[]): Uint8Array {
  const b = new Builder(1024);
  const codeOffsets = codes.map((c) => {
    const custom = c.custom ? b.createString(c.custom) : 0;
    b.startObject(4);
    b.addFieldInt8(S.OperatorCode.deprecatedBuiltinCode, c.deprecated, null);
    if (custom) b.addFieldOffset(S.OperatorCode.customCode, custom, 0);
    b.addFieldInt32(S.OperatorCode.builtinCode, c.builtin, null);
    return b.endObject();
  });
  const vec = (offs: number[]) => {
    b.startVector(4, offs.length, 4);
    for (let i = offs.length - 1; i >= 0; i--) b.addOffset(offs[i]!);
    return b.endVector();
  };
  const ints = (v: number[]) => {
    b.startVector(4, v.length, 4);
    for (let i = v.length - 1; i >= 0; i--) b.addInt32(v[i]!);
    return b.endVector();
  };
  const shape = ints([1, 4]);
  b.startObject(4);
  b.addFieldOffset(S.Tensor.shape, shape, 0);
  const tensor = b.endObject();
  const ops = codes.map((_, i) => {
    const io = ints([0]);
    b.startObject(3);
    b.addFieldInt32(S.Operator.opcodeIndex, i, null);
    b.addFieldOffset(S.Operator.inputs, io, 0);
    b.addFieldOffset(S.Operator.outputs, io, 0);
    return b.endObject();
  });
  const tensors = vec([tensor]);
  const operators = vec(ops);
  b.startObject(4);
  b.addFieldOffset(S.SubGraph.tensors, tensors, 0);
  b.addFieldOffset(S.SubGraph.operators, operators, 0);
  const sg = b.endObject();
  b.startObject(1);
  const empty = b.endObject();
  const opcodes = vec(codeOffsets);
  const subgraphs = vec([sg]);
  const buffers = vec([empty]);
  b.startObject(5);
  b.addFieldInt32(S.Model.version, 3, null);
  b.addFieldOffset(S.Model.operatorCodes, opcodes, 0);
  b.addFieldOffset(S.Model.subgraphs, subgraphs, 0);
  b.addFieldOffset(S.Model.buffers, buffers, 0);
  b.finish(b.endObject(), 'TFL3');
  return b.asUint8Array();
}

/**
 * Buffers compare by content; quantization scales and ranges are float32 in the file, so the
 * in-memory model's float64 values compare after rounding to float32.
 */
function normalise(m: TfliteModel) {
  const f32 = (a: number[] | undefined) => a?.map(Math.fround);
  return {
    ...m,
    tensors: m.tensors.map((t) =>
      t.quantization
        ? {
            ...t,
            quantization: {
              ...t.quantization,
              scale: f32(t.quantization.scale),
              ...(t.quantization.min ? { min: f32(t.quantization.min) } : {}),
              ...(t.quantization.max ? { max: f32(t.quantization.max) } : {}),
            },
          }
        : t,
    ),
    buffers: m.buffers.map((b) => Array.from(b)),
    metadata: Object.fromEntries(Object.entries(m.metadata).map(([k, v]) => [k, Array.from(v)])),
  };
}

describe('TFLite writer → reader', () => {
  it('round-trips a float model with every emitted op', () => {
    const model = floatChainModel();
    const bytes = writeTflite(model);
    expect(new TextDecoder().decode(bytes.subarray(4, 8))).toBe('TFL3');
    const back = readTflite(bytes, 'float.tflite');
    expect(normalise(back)).toEqual(normalise(model));
  });

  it('round-trips an int8 model with per-channel quantization and metadata', () => {
    const model = int8ChainModel();
    const back = readTflite(writeTflite(model));
    expect(normalise(back)).toEqual(normalise(model));
    const conv = back.tensors.find((t) => t.name === 'conv/w')!;
    expect(conv.quantization?.scale).toHaveLength(4);
    expect(conv.quantization?.quantizedDimension).toBe(0);
    expect(back.tensors.find((t) => t.name === 'dw/w')!.quantization?.quantizedDimension).toBe(3);
  });

  it('aligns every constant buffer to 16 bytes and writes no empty vectors', () => {
    const model = int8ChainModel();
    // Odd-sized buffers in between force padding.
    model.buffers.push(new Uint8Array([1, 2, 3]));
    const bytes = writeTflite(model);
    const layout = readBufferLayout(bytes);
    expect(layout[0]).toEqual({ offset: 0, length: 0 });
    const nonEmpty = layout.filter((l) => l.length > 0);
    expect(nonEmpty.length).toBe(model.buffers.length - 1 + Object.keys(model.metadata).length);
    for (const l of nonEmpty) expect(l.offset % 16).toBe(0);
  });

  it('writes both builtin code fields; reader takes the larger', () => {
    const bytes = writeTflite(floatChainModel());
    const back = readTflite(bytes);
    expect(back.operators.map((o) => o.op)).toEqual([
      'CONV_2D',
      'DEPTHWISE_CONV_2D',
      'ADD',
      'AVERAGE_POOL_2D',
      'MEAN',
      'FULLY_CONNECTED',
      'RESHAPE',
      'SOFTMAX',
    ]);
    expect(BUILTIN_OPERATOR_NAMES[40]).toBe('MEAN');
    expect(BUILTIN_OPERATOR_NAMES[114]).toBe('QUANTIZE');
    expect(BUILTIN_OPERATOR_NAMES[127]).toBe('PLACEHOLDER_FOR_GREATER_OP_CODES');
    expect(BUILTIN_OPERATOR_NAMES[161]).toBe('RIGHT_SHIFT');
  });

  it('stores and recovers plastisort metadata', () => {
    const meta: PlastisortMetadata = {
      schema: 'plastisort.model/1',
      labels: ['PET', 'HDPE'],
      inputSize: 8,
      inputContract: 'rgb888_minus_128',
      floatScaling: { scale: 1 / 127.5, offset: -1 },
      resize: 'squash',
    };
    const model = withPlastisortMetadata(floatChainModel(), meta);
    const back = readTflite(writeTflite(model));
    expect(getPlastisortMetadata(back)).toEqual(meta);
    expect(getPlastisortMetadata(floatChainModel())).toBeUndefined();
  });

  it('refuses to write what it cannot express', () => {
    const m = floatChainModel();
    m.tensors[0]!.buffer = 99;
    expect(() => writeTflite(m)).toThrow(UserError);
    const m2 = floatChainModel();
    m2.operators.push({ op: 'OTHER', name: 'GELU', builtinCode: 150, inputs: [0], outputs: [1] });
    expect(() => writeTflite(m2)).toThrow(/GELU/);
  });

  it('rejects non-TFLite bytes with a one-line UserError', () => {
    expect(() => readTflite(new Uint8Array([1, 2, 3]), 'x.bin')).toThrow(/x\.bin: not a TFLite file/);
    const png = new Uint8Array(64);
    png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(() => readTflite(png, 'a.png')).toThrow(/not a TFLite file \(file identifier/);
    const bytes = writeTflite(floatChainModel());
    expect(() => readTflite(bytes.subarray(0, bytes.length - 200), 'cut.tflite')).toThrow(/cut\.tflite: truncated at/);
  });

  it('reads operators it does not model as OTHER, by name, from either code field', () => {
    const bytes = fileWithOpCodes([
      { builtin: 150, deprecated: 127 }, // GELU: only in the extended field
      { builtin: 0, deprecated: 17 }, // MAX_POOL_2D in an old file: only in the deprecated field
      { builtin: 32, deprecated: 32, custom: 'TFLite_Detection_PostProcess' },
      { builtin: 250, deprecated: 127 }, // a code newer than our name table
    ]);
    const m = readTflite(bytes, 'other.tflite');
    expect(m.operators[0]).toEqual({ op: 'OTHER', name: 'GELU', builtinCode: 150, inputs: [0], outputs: [0] });
    expect(m.operators[1]!.op).toBe('MAX_POOL_2D');
    expect(m.operators[2]).toMatchObject({ op: 'OTHER', name: 'CUSTOM:TFLite_Detection_PostProcess', builtinCode: 32 });
    expect(m.operators[3]).toMatchObject({ op: 'OTHER', name: 'BUILTIN_250' });
    const r = inspectModel(m, bytes.length);
    expect(r.ops.map((o) => o.op)).toEqual(['GELU', 'MAX_POOL_2D', 'CUSTOM:TFLite_Detection_PostProcess', 'BUILTIN_250']);
    expect(() => writeTflite(m)).toThrow(/GELU, which this writer does not support/);
  });
});
