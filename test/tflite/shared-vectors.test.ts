/**
 * The writer stores each distinct shape and quantization vector once and points every tensor that
 * uses it at that copy. The file must read back the same, load in LiteRT with outputs identical to the
 * one-copy-per-tensor form, and be smaller.
 */
import { describe, expect, it } from 'vitest';
import { readQuantizationVectorBytes, readTflite } from '../../host/tflite/reader.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { loadLiteRtModel } from '../../host/tflite/litert.ts';
import { inspectModel } from '../../host/tflite/inspect.ts';
import { validateTfliteModel } from '../../host/tflite/validate.ts';
import { int8ChainModel } from './models.ts';

describe('shared vectors in the writer', () => {
  it('reads back equal, counts fewer distinct quantization vectors and is smaller', () => {
    const model = int8ChainModel();
    const shared = writeTflite(model);
    const unshared = writeTflite(model, { shareVectors: false });
    // writer-reader.test.ts checks the unshared form against the model (float32 rounding aside).
    expect(readTflite(shared)).toEqual(readTflite(unshared));
    expect(validateTfliteModel(readTflite(shared))).toEqual([]);

    const s = readQuantizationVectorBytes(shared);
    const u = readQuantizationVectorBytes(unshared);
    // Same pointers, fewer targets: every per-channel zero-point vector of length 4 is one copy.
    expect(s.references).toBe(u.references);
    expect(u.vectors).toBe(u.references);
    expect(s.vectors).toBeLessThan(u.vectors);
    expect(s.bytes).toBeLessThan(u.bytes);
    expect(shared.length).toBeLessThan(unshared.length);

    // The inspect breakdown adds up to the file either way.
    for (const bytes of [shared, unshared]) {
      const r = inspectModel(readTflite(bytes), bytes.length, readQuantizationVectorBytes(bytes).bytes);
      const z = r.size;
      expect(z.weights + z.biases + z.otherConstants + z.quantParams! + z.other).toBe(bytes.length);
      expect(z.other).toBeGreaterThan(0);
    }
  });

  it('shares vectors whose stored float32 bytes are equal, and only those', () => {
    const distinct = int8ChainModel();
    const conv = distinct.tensors.find((t) => t.name === 'conv/w')!;
    const dw = distinct.tensors.find((t) => t.name === 'dw/w')!;
    dw.quantization = { ...dw.quantization!, scale: conv.quantization!.scale.map((v) => v * 1.5) };
    const equalInFloat32 = int8ChainModel();
    const conv2 = equalInFloat32.tensors.find((t) => t.name === 'conv/w')!;
    const dw2 = equalInFloat32.tensors.find((t) => t.name === 'dw/w')!;
    // Differs as a double, not once stored as float32.
    dw2.quantization = { ...dw2.quantization!, scale: conv2.quantization!.scale.map((v) => v * (1 + 2 ** -40)) };

    const d = readQuantizationVectorBytes(writeTflite(distinct));
    const e = readQuantizationVectorBytes(writeTflite(equalInFloat32));
    expect(e.vectors).toBe(d.vectors - 1);
    const back = readTflite(writeTflite(equalInFloat32));
    expect(back.tensors.find((t) => t.name === 'dw/w')!.quantization!.scale).toEqual(conv2.quantization!.scale.map(Math.fround));
    const backDistinct = readTflite(writeTflite(distinct));
    expect(backDistinct.tensors.find((t) => t.name === 'dw/w')!.quantization!.scale).toEqual(
      dw.quantization.scale.map(Math.fround),
    );
  });

  it('runs in LiteRT with outputs identical to the unshared form', async () => {
    const model = int8ChainModel();
    const a = await loadLiteRtModel(writeTflite(model), 'shared');
    const b = await loadLiteRtModel(writeTflite(model, { shareVectors: false }), 'unshared');
    try {
      let seed = 7;
      for (let k = 0; k < 8; k++) {
        const x = Int8Array.from({ length: 8 * 8 * 3 }, () => {
          seed = (seed * 1103515245 + 12345) >>> 0;
          return (seed >>> 24) - 128;
        });
        const [ya] = await a.run([x]);
        const [yb] = await b.run([x]);
        expect(Array.from(ya!)).toEqual(Array.from(yb!));
      }
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});
