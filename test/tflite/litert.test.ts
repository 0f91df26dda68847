import { describe, expect, it } from 'vitest';
import { loadLiteRtModel } from '../../host/tflite/litert.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { UserError } from '../../host/util/errors.ts';
import { GraphBuilder, f32Bytes, floatChainModel, i32Bytes, i8Bytes, int8ChainModel } from './models.ts';
import { createRng } from '../../host/util/rng.ts';
import { runFloatReference } from './reference.ts';

describe('LiteRT adapter runs writer output in Node', () => {
  it('1-op float CONV_2D (stride 2, SAME, odd size) equals a hand computation', async () => {
    const H = 5;
    const W = 5;
    const C = 2;
    const OC = 3;
    const K = 3;
    const r = createRng(7);
    const weights = Array.from({ length: OC * K * K * C }, () => Math.round((r() * 2 - 1) * 8) / 8);
    const bias = [0.5, -0.25, 0];
    const g = new GraphBuilder();
    const x = g.activation('x', [1, H, W, C]);
    const w = g.constant('w', [OC, K, K, C], 'float32', f32Bytes(weights));
    const b = g.constant('b', [OC], 'float32', f32Bytes(bias));
    const y = g.activation('y', [1, 3, 3, OC]);
    g.model.operators.push({
      op: 'CONV_2D',
      inputs: [x, w, b],
      outputs: [y],
      options: { padding: 'SAME', strideW: 2, strideH: 2, dilationW: 1, dilationH: 1, fusedActivation: 'NONE' },
    });
    g.model.inputs = [x];
    g.model.outputs = [y];
    const input = Float32Array.from({ length: H * W * C }, (_, i) => (i % 7) - 3);

    const model = await loadLiteRtModel(writeTflite(g.model));
    try {
      expect(model.inputs()).toEqual([{ name: 'x', shape: [1, 5, 5, 2], dtype: 'float32' }]);
      expect(model.outputs()).toEqual([{ name: 'y', shape: [1, 3, 3, 3], dtype: 'float32' }]);
      const [out] = await model.run([input]);
      expect(out).toBeInstanceOf(Float32Array);
      // SAME with stride 2 on 5 pixels: 3 outputs, total padding (3-1)*2+3-5 = 2, one before.
      for (let oy = 0; oy < 3; oy++)
        for (let ox = 0; ox < 3; ox++)
          for (let oc = 0; oc < OC; oc++) {
            let acc = bias[oc]!;
            for (let ky = 0; ky < K; ky++)
              for (let kx = 0; kx < K; kx++)
                for (let ic = 0; ic < C; ic++) {
                  const iy = oy * 2 - 1 + ky;
                  const ix = ox * 2 - 1 + kx;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  acc += input[(iy * W + ix) * C + ic]! * weights[((oc * K + ky) * K + kx) * C + ic]!;
                }
            expect(out![(oy * 3 + ox) * OC + oc]).toBeCloseTo(acc, 5);
          }
    } finally {
      model.dispose();
    }
  });

  it('float chain (conv, depthwise, add, pool, mean, dense, reshape, softmax) matches a float64 reference', async () => {
    const m = floatChainModel(3);
    const input = Float32Array.from({ length: 8 * 8 * 3 }, (_, i) => Math.sin(i * 0.37));
    const model = await loadLiteRtModel(writeTflite(m));
    try {
      const [out] = await model.run([input]);
      const ref = runFloatReference(m, input);
      expect(out!.length).toBe(5);
      for (let i = 0; i < 5; i++) expect(out![i]).toBeCloseTo(ref[i]!, 4);
    } finally {
      model.dispose();
    }
  });

  it('int8 FULLY_CONNECTED matches an integer reference within ±1', async () => {
    const I = 16;
    const O = 6;
    const r = createRng(11);
    const sIn = 0.05;
    const zIn = -3;
    const sW = 0.02;
    const sOut = 0.15;
    const zOut = 5;
    const w = Array.from({ length: O * I }, () => Math.floor(r() * 255) - 127);
    const bias = Array.from({ length: O }, () => Math.floor(r() * 2000) - 1000);
    const g = new GraphBuilder();
    const x = g.activation('x', [1, I], 'int8', { scale: [sIn], zeroPoint: [zIn] });
    const wt = g.constant('w', [O, I], 'int8', i8Bytes(w), { scale: [sW], zeroPoint: [0] });
    const bt = g.constant('b', [O], 'int32', i32Bytes(bias), { scale: [sIn * sW], zeroPoint: [0] });
    const y = g.activation('y', [1, O], 'int8', { scale: [sOut], zeroPoint: [zOut] });
    g.model.operators.push({
      op: 'FULLY_CONNECTED',
      inputs: [x, wt, bt],
      outputs: [y],
      options: { fusedActivation: 'NONE', keepNumDims: false },
    });
    g.model.inputs = [x];
    g.model.outputs = [y];
    const input = Int8Array.from({ length: I }, () => Math.floor(r() * 256) - 128);

    const model = await loadLiteRtModel(writeTflite(g.model));
    try {
      expect(model.inputs()[0]!.dtype).toBe('int8');
      const [out] = await model.run([input]);
      expect(out).toBeInstanceOf(Int8Array);
      const multiplier = (Math.fround(sIn) * Math.fround(sW)) / Math.fround(sOut);
      for (let o = 0; o < O; o++) {
        let acc = bias[o]!;
        for (let i = 0; i < I; i++) acc += (input[i]! - zIn) * w[o * I + i]!;
        const want = Math.min(127, Math.max(-128, Math.round(acc * multiplier) + zOut));
        expect(Math.abs(out![o]! - want)).toBeLessThanOrEqual(1);
      }
    } finally {
      model.dispose();
    }
  });

  it('int8 CONV_2D with per-channel weights matches an integer reference within ±1', async () => {
    const H = 6;
    const W = 6;
    const C = 3;
    const OC = 4;
    const r = createRng(5);
    const sIn = 1 / 128;
    const zIn = 0;
    const sW = [0.01, 0.03, 0.002, 0.02];
    const sOut = 0.04;
    const zOut = -10;
    const w = Array.from({ length: OC * 9 * C }, () => Math.floor(r() * 255) - 127);
    const bias = [100, -200, 300, 0];
    const g = new GraphBuilder();
    const x = g.activation('x', [1, H, W, C], 'int8', { scale: [sIn], zeroPoint: [zIn] });
    const wt = g.constant('w', [OC, 3, 3, C], 'int8', i8Bytes(w), {
      scale: sW,
      zeroPoint: [0, 0, 0, 0],
      quantizedDimension: 0,
    });
    const bt = g.constant('b', [OC], 'int32', i32Bytes(bias), {
      scale: sW.map((s) => s * sIn),
      zeroPoint: [0, 0, 0, 0],
      quantizedDimension: 0,
    });
    const y = g.activation('y', [1, H, W, OC], 'int8', { scale: [sOut], zeroPoint: [zOut] });
    g.model.operators.push({
      op: 'CONV_2D',
      inputs: [x, wt, bt],
      outputs: [y],
      options: { padding: 'SAME', strideW: 1, strideH: 1, dilationW: 1, dilationH: 1, fusedActivation: 'RELU6' },
    });
    g.model.inputs = [x];
    g.model.outputs = [y];
    const input = Int8Array.from({ length: H * W * C }, () => Math.floor(r() * 256) - 128);

    const model = await loadLiteRtModel(writeTflite(g.model));
    try {
      const [out] = await model.run([input]);
      // RELU6 in the int8 domain clamps to [q(0), q(6)].
      const lo = Math.max(-128, zOut);
      const hi = Math.min(127, zOut + Math.round(6 / sOut));
      let maxDiff = 0;
      for (let oy = 0; oy < H; oy++)
        for (let ox = 0; ox < W; ox++)
          for (let oc = 0; oc < OC; oc++) {
            let acc = bias[oc]!;
            for (let ky = 0; ky < 3; ky++)
              for (let kx = 0; kx < 3; kx++) {
                const iy = oy - 1 + ky;
                const ix = ox - 1 + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                for (let ic = 0; ic < C; ic++) {
                  acc += (input[(iy * W + ix) * C + ic]! - zIn) * w[((oc * 3 + ky) * 3 + kx) * C + ic]!;
                }
              }
            const m = (Math.fround(sIn) * Math.fround(sW[oc]!)) / Math.fround(sOut);
            const want = Math.min(hi, Math.max(lo, Math.round(acc * m) + zOut));
            maxDiff = Math.max(maxDiff, Math.abs(out![(oy * W + ox) * OC + oc]! - want));
          }
      expect(maxDiff).toBeLessThanOrEqual(1);
    } finally {
      model.dispose();
    }
  });

  it('int8 chain with metadata loads and its softmax output sums to about 1', async () => {
    const model = await loadLiteRtModel(writeTflite(int8ChainModel()));
    try {
      expect(model.outputs()[0]).toEqual({ name: 'probs', shape: [1, 5], dtype: 'int8' });
      const input = Int8Array.from({ length: 8 * 8 * 3 }, (_, i) => ((i * 37) % 256) - 128);
      const [out] = await model.run([input]);
      const probs = Array.from(out!, (v) => (v + 128) / 256);
      const sum = probs.reduce((a, b) => a + b, 0);
      expect(sum).toBeGreaterThan(0.95);
      expect(sum).toBeLessThan(1.05);
    } finally {
      model.dispose();
    }
  });

  it('turns bad input into UserErrors', async () => {
    await expect(loadLiteRtModel(new Uint8Array(100), 'zero.tflite')).rejects.toThrow(UserError);
    const model = await loadLiteRtModel(writeTflite(floatChainModel()));
    try {
      await expect(model.run([new Float32Array(3)])).rejects.toThrow(/needs a Float32Array of 192 values/);
      await expect(model.run([])).rejects.toThrow(/takes 1 inputs/);
    } finally {
      model.dispose();
    }
  });
});
