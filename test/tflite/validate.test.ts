import { describe, expect, it } from 'vitest';
import { validateTfliteModel } from '../../host/tflite/validate.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { inspectModel } from '../../host/tflite/inspect.ts';
import { UserError } from '../../host/util/errors.ts';
import { floatChainModel, int8ChainModel } from './models.ts';

describe('validateTfliteModel', () => {
  it('finds nothing wrong in sound float and int8 models', () => {
    expect(validateTfliteModel(floatChainModel())).toEqual([]);
    expect(validateTfliteModel(int8ChainModel())).toEqual([]);
  });

  it('names a conv filter whose depth does not match its input, which LiteRT would run anyway', () => {
    const m = floatChainModel();
    const w = m.operators[0]!.inputs[1]!;
    m.tensors[w]!.shape = [4, 3, 3, 2];
    const problems = validateTfliteModel(m);
    expect(problems).toContain('tensor 1 (conv/w): buffer has 432 bytes, shape [4,3,3,2] float32 needs 288');
    expect(problems).toContain('operator 0 (CONV_2D): filter depth 2 does not match input channels 3');
    expect(() => writeTflite(m)).toThrow(UserError);
    expect(() => writeTflite(m)).toThrow(/conv\/w.*\(and 1 more problems\)/);
    expect(inspectModel(m, 0).problems).toEqual(problems);
  });

  it('checks output shapes from padding, stride and dilation', () => {
    const m = int8ChainModel();
    // stride 2 SAME on 8 pixels gives 4; claim 3.
    m.tensors[m.operators[0]!.outputs[0]!]!.shape = [1, 3, 3, 4];
    expect(validateTfliteModel(m)[0]).toMatch(/operator 0 \(CONV_2D\): output tensor \d+ \(conv\) has shape \[1,3,3,4\], expected \[1,4,4,4\]/);
    const v = floatChainModel();
    const conv = v.operators[0]!;
    if (conv.op !== 'CONV_2D') throw new Error('fixture changed');
    conv.options.padding = 'VALID';
    expect(validateTfliteModel(v).some((p) => p.includes('expected [1,6,6,4]'))).toBe(true);
    conv.options.dilationH = 2;
    conv.options.dilationW = 2;
    expect(validateTfliteModel(v).some((p) => p.includes('expected [1,4,4,4]'))).toBe(true);
  });

  it('checks per-channel scale counts, int32 biases, dense and reshape sizes', () => {
    const m = int8ChainModel();
    const w = m.tensors.find((t) => t.name === 'conv/w')!;
    w.quantization!.quantizedDimension = 3;
    const b = m.tensors.find((t) => t.name === 'fc/b')!;
    b.type = 'int8';
    m.buffers[b.buffer] = new Uint8Array(5);
    const r = m.tensors.find((t) => t.name === 'reshape')!;
    r.shape = [1, 6];
    const problems = validateTfliteModel(m).join('\n');
    expect(problems).toMatch(/conv\/w\): 4 per-channel scales along dimension 3, shape is \[4,3,3,3\]/);
    expect(problems).toMatch(/FULLY_CONNECTED\): int8 op needs an int32 bias, got int8/);
    expect(problems).toMatch(/RESHAPE\): reshape of 5 values into \[1,6\]/);
  });
});
