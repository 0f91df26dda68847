import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { activationQuant, fakeQuantOf, inputQuantization, quantizeWeights } from '../../host/quantize/int8-params.ts';
import { compensateInputOffset } from '../../host/quantize/input-offset.ts';
import { buildTfliteModel } from '../../host/quantize/tflite-builder.ts';
import { quantizeModel, type QuantizeConfig } from '../../host/quantize/quantize-model.ts';
import { collectStats, rangeFor } from '../../host/quantize/calibrate.ts';
import { lowerLayersModel } from '../../host/quantize/lower.ts';
import { IrExecutor, imagesToBatch } from '../../host/quantize/execute.ts';
import { cloneGraph, type IrConv, type IrDepthwise, type IrFullyConnected } from '../../host/quantize/ir.ts';
import { readTflite } from '../../host/tflite/reader.ts';
import { getPlastisortMetadata } from '../../host/tflite/plastisort-metadata.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { loadLiteRtModel } from '../../host/tflite/litert.ts';
import { UserError } from '../../host/util/errors.ts';
import { createRng } from '../../host/util/rng.ts';
import { randomImages, tinyClassifier } from './models.ts';

const SCALING = { scale: 1 / 127.5, offset: -1 };
const CLASSES = ['a', 'b', 'c', 'd'];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function configFor(size: number): QuantizeConfig {
  return { classes: CLASSES, inputSize: size, floatScaling: SCALING, resize: 'squash', manifestSha256: 'f'.repeat(64), runId: 'test-run' };
}

describe('int8 parameters', () => {
  it('maps camera bytes p to q = p − 128 with the residual offset stated exactly', () => {
    const iq = inputQuantization(SCALING);
    // x = p/127.5 − 1 needs a zero point of −0.5; the integer one leaves half an LSB.
    expect(iq.exactZeroPoint).toBeCloseTo(-0.5, 12);
    expect(Number.isInteger(iq.zeroPoint)).toBe(true);
    expect(Math.abs(iq.residualOffset)).toBeCloseTo(0.5 / 127.5, 12);
    for (let p = 0; p <= 255; p++) {
      const q = p - 128;
      expect(q).toBeGreaterThanOrEqual(-128);
      expect(q).toBeLessThanOrEqual(127);
      const dequantized = iq.scale * (q - iq.zeroPoint);
      expect(dequantized - (p * SCALING.scale + SCALING.offset)).toBeCloseTo(iq.residualOffset, 12);
    }
    // A [0, 1] scaling is exactly representable: zero point −128, no residual.
    const unit = inputQuantization({ scale: 1 / 255, offset: 0 });
    expect(unit.zeroPoint).toBe(-128);
    expect(unit.residualOffset).toBe(0);
    expect(() => inputQuantization({ scale: 0, offset: 0 })).toThrow(UserError);
  });

  it('quantizes activations asymmetrically with 0 exactly representable', () => {
    for (const [lo, hi] of [[0, 6], [-3.2, 1.7], [0.5, 4], [-2, -0.25]] as const) {
      const q = activationQuant(lo, hi);
      expect(Number.isInteger(q.zeroPoint)).toBe(true);
      expect(q.zeroPoint).toBeGreaterThanOrEqual(-128);
      expect(q.zeroPoint).toBeLessThanOrEqual(127);
      expect(q.min).toBeLessThanOrEqual(Math.min(lo, 0) + 1e-9 + q.scale);
      expect(q.max).toBeGreaterThanOrEqual(Math.max(hi, 0) - q.scale);
      expect(q.min).toBeLessThanOrEqual(0);
      expect(q.max).toBeGreaterThanOrEqual(0);
    }
    expect(activationQuant(0, 6)).toMatchObject({ zeroPoint: -128 });
  });

  it('quantizes weights per output channel symmetrically and biases at input × weight scale', () => {
    const weights = new Float32Array([0.5, -1, 0.25, 2, 0, -0.125, 0.0625, 0.25]); // OHWI [2,1,1,4]
    const op = { kind: 'CONV_2D', name: 'c', inputs: [0], output: 1, weights, weightShape: [2, 1, 1, 4], bias: new Float32Array([0.3, -0.7]) } as unknown as IrConv;
    const q = quantizeWeights(op, 0.02, true);
    expect(q.weightScales[0]).toBeCloseTo(2 / 127, 9);
    expect(q.weightScales[1]).toBeCloseTo(0.25 / 127, 9);
    // -1/(2/127) = -63.5 and -0.125/(0.25/127) = -63.5 round away from zero to -64, as TFLite does.
    expect(Array.from(q.weights)).toEqual([32, -64, 16, 127, 0, -64, 32, 127]);
    expect(q.biasScales[1]).toBeCloseTo(0.02 * (0.25 / 127), 12);
    expect(q.bias[0]).toBe(Math.round(0.3 / (0.02 * (2 / 127))));
    for (let i = 0; i < weights.length; i++) {
      const s = q.weightScales[i < 4 ? 0 : 1]!;
      expect(Math.abs(q.weights[i]! * s - weights[i]!)).toBeLessThanOrEqual(s / 2 + 1e-9);
    }
    const perTensor = quantizeWeights(op, 0.02, false);
    expect(perTensor.weightScales).toHaveLength(1);
    expect(Math.max(...Array.from(perTensor.weights, Math.abs))).toBe(127);
  });

  it('records the mean of every channel of every calibrated value', async () => {
    const model = tinyClassifier({ size: 16, batchNorm: true });
    const graph = lowerLayersModel(model);
    const images = randomImages(5, 16, 7);
    const stats = await collectStats(graph, images, { floatScaling: SCALING, batchSize: 2 });
    const direct = new Map<number, Float64Array>();
    const exec = new IrExecutor(graph);
    exec.run(imagesToBatch(images, 16, SCALING), (id, t) => {
      const data = t.dataSync();
      const channels = t.shape[t.shape.length - 1]!;
      const mean = new Float64Array(channels);
      for (let i = 0; i < data.length; i++) mean[i % channels] += data[i]! / (data.length / channels);
      direct.set(id, mean);
    }).dispose();
    exec.dispose();
    expect(stats.size).toBe(direct.size);
    for (const [id, mean] of direct) {
      const got = stats.get(id)!.channelMean;
      expect(got).toHaveLength(mean.length);
      for (let c = 0; c < mean.length; c++) expect(got[c]).toBeCloseTo(mean[c]!, 4);
    }
  });

  it('folds the mean error of rounded 1×1 convolution weights into the bias (ReLU6-like inputs)', () => {
    const cin = 960;
    const cout = 16;
    const rand = createRng(5);
    const weights = Float32Array.from({ length: cout * cin }, () => (rand() - 0.5) * 0.2);
    const op = { kind: 'CONV_2D', name: 'project', inputs: [0], output: 1, weights, weightShape: [cout, 1, 1, cin], bias: Float32Array.from({ length: cout }, () => rand() - 0.5) } as unknown as IrConv;
    // Non-negative inputs, as after ReLU6: channel means between 1 and 3.
    const inputMean = Float64Array.from({ length: cin }, () => 1 + 2 * rand());
    const inputScale = 6 / 255;
    // Mean output error of channel c: Σ_i (ŵ_ci − w_ci)·E[x_i] + (b̂_c − b_c), computed from the definition.
    const meanError = (q: ReturnType<typeof quantizeWeights>) =>
      Array.from({ length: cout }, (_, c) => {
        let e = q.bias[c]! * q.biasScales[c]! - op.bias[c]!;
        for (let i = 0; i < cin; i++) e += (q.weights[c * cin + i]! * q.weightScales[c]! - weights[c * cin + i]!) * inputMean[i]!;
        return Math.abs(e) / q.biasScales[c]!;
      });
    const plain = meanError(quantizeWeights(op, inputScale, true));
    const corrected = meanError(quantizeWeights(op, inputScale, true, inputMean));
    // Only the int32 rounding of the bias itself remains: half a bias LSB.
    expect(Math.max(...corrected)).toBeLessThanOrEqual(0.5 + 1e-6);
    expect(Math.max(...plain)).toBeGreaterThan(50);
  });

  it('reads depthwise input channel ⌊c/M⌋ and per-tensor fully connected inputs when correcting biases', () => {
    const cin = 4;
    const mult = 2;
    const cout = cin * mult;
    const rand = createRng(11);
    const inputMean = Float64Array.from({ length: cin }, (_, i) => [0.5, 4, 1.5, 3][i]!);
    const dwWeights = Float32Array.from({ length: 9 * cout }, () => rand() - 0.5);
    const dw = { kind: 'DEPTHWISE_CONV_2D', name: 'dw', inputs: [0], output: 1, weights: dwWeights, weightShape: [1, 3, 3, cout], depthMultiplier: mult, bias: new Float32Array(cout) } as unknown as IrDepthwise;
    const q = quantizeWeights(dw, 0.05, true, inputMean);
    for (let c = 0; c < cout; c++) {
      let e = q.bias[c]! * q.biasScales[c]!;
      for (let k = 0; k < 9; k++) e += (q.weights[k * cout + c]! * q.weightScales[c]! - dwWeights[k * cout + c]!) * inputMean[Math.floor(c / mult)]!;
      expect(Math.abs(e)).toBeLessThanOrEqual(q.biasScales[c]! / 2 + 1e-12);
    }
    const fcWeights = Float32Array.from({ length: 3 * cin }, () => rand() - 0.5);
    const fc = { kind: 'FULLY_CONNECTED', name: 'fc', inputs: [0], output: 1, weights: fcWeights, weightShape: [3, cin], bias: new Float32Array([0.1, -0.2, 0.3]) } as unknown as IrFullyConnected;
    const qf = quantizeWeights(fc, 0.05, false, inputMean);
    expect(qf.weightScales).toHaveLength(1);
    for (let o = 0; o < 3; o++) {
      let e = qf.bias[o]! * qf.biasScales[0]! - fc.bias[o]!;
      for (let i = 0; i < cin; i++) e += (qf.weights[o * cin + i]! * qf.weightScales[0]! - fcWeights[o * cin + i]!) * inputMean[i]!;
      expect(Math.abs(e)).toBeLessThanOrEqual(qf.biasScales[0]! / 2 + 1e-12);
    }
  });

  it('clipping methods never widen the min/max range and percentile/mse clip outliers', async () => {
    const model = tinyClassifier({ size: 16, batchNorm: true });
    const graph = lowerLayersModel(model);
    const stats = await collectStats(graph, randomImages(8, 16, 3), { floatScaling: SCALING });
    for (const s of stats.values()) {
      for (const m of ['percentile', 'mse'] as const) {
        const [lo, hi] = rangeFor(s, m);
        expect(lo).toBeGreaterThanOrEqual(s.min - 1e-6);
        expect(hi).toBeLessThanOrEqual(s.max + 1e-6);
      }
    }
    // A long tail (x = ln(u)², 32768 quantiles): at 8 bits MSE clips a little, the 99.99th percentile more.
    const tail = Float32Array.from({ length: 32768 }, (_, i) => Math.log((i + 0.5) / 32768) ** 2);
    const heavy = { min: Math.min(...tail), max: Math.max(...tail), sample: tail };
    const [, mseHi] = rangeFor(heavy, 'mse');
    const [, pHi] = rangeFor(heavy, 'percentile', 99.99);
    expect(mseHi).toBeLessThan(heavy.max * 0.99);
    expect(pHi).toBeLessThan(mseHi);
    const q = (lo: number, hi: number) => {
      const a = activationQuant(lo, hi);
      return tail.reduce((e, x) => e + ((Math.max(-128, Math.min(127, Math.round(x / a.scale) + a.zeroPoint)) - a.zeroPoint) * a.scale - x) ** 2, 0);
    };
    expect(q(heavy.min, mseHi)).toBeLessThan(q(heavy.min, heavy.max));
    expect(rangeFor(heavy, 'minmax')).toEqual([heavy.min, heavy.max]);
  });

  it('cancels the input offset in the first convolution inside the image', async () => {
    const model = tinyClassifier({ size: 16, batchNorm: true });
    const floatGraph = lowerLayersModel(model);
    const iq = inputQuantization(SCALING);
    const first = floatGraph.ops[0]!.output;
    const compensated = cloneGraph(floatGraph);
    expect(compensateInputOffset(compensated, iq.residualOffset)).toEqual([floatGraph.ops[0]!.name]);
    const images = randomImages(2, 16, 4);
    const contract = { scale: iq.scale, offset: -(128 + iq.zeroPoint) * iq.scale };
    const valueAt = (g: typeof floatGraph, scaling: typeof SCALING) => {
      let out: number[][][][] = [];
      const exec = new IrExecutor(g);
      exec.run(imagesToBatch(images, 16, scaling), (id, t) => {
        if (id === first) out = t.arraySync() as number[][][][];
      }).dispose();
      return out;
    };
    const ref = valueAt(floatGraph, SCALING);
    const fixed = valueAt(compensated, contract);
    const raw = valueAt(floatGraph, contract);
    // Output rows/cols 0..6 of the 8×8 stride-2 SAME conv never touch the (bottom/right) zero padding.
    let fixedErr = 0;
    let rawErr = 0;
    for (let n = 0; n < 2; n++) for (let y = 0; y < 7; y++) for (let x = 0; x < 7; x++) for (let c = 0; c < 8; c++) {
      // Compare before ReLU6 clipping matters: only where the reference is strictly inside (0, 6).
      const r = ref[n]![y]![x]![c]!;
      if (r <= 0 || r >= 6) continue;
      fixedErr = Math.max(fixedErr, Math.abs(fixed[n]![y]![x]![c]! - r));
      rawErr = Math.max(rawErr, Math.abs(raw[n]![y]![x]![c]! - r));
    }
    expect(fixedErr).toBeLessThan(1e-5);
    expect(rawErr).toBeGreaterThan(1e-3);
  });
});

describe('quantized tiny models through LiteRT', () => {
  for (const size of [16, 15]) {
    for (const batchNorm of [true, false]) {
      it(`int8 outputs match the float model (size ${size}, ${batchNorm ? 'with' : 'without'} BatchNormalization)`, async () => {
        const model = tinyClassifier({ size, batchNorm, seed: 3 + size });
        const calib = randomImages(24, size, 5);
        const test = randomImages(24, size, 77);
        const r = await quantizeModel(model, configFor(size), calib, { method: 'minmax' });

        // The file reads back with int8 tensors and the spec's parameters.
        const back = readTflite(r.tflite);
        const input = back.tensors[back.inputs[0]!]!;
        expect(input.type).toBe('int8');
        expect(input.quantization!.scale[0]).toBeCloseTo(SCALING.scale, 8); // stored as float32
        expect(input.quantization!.zeroPoint[0]).toBe(0);
        const output = back.tensors[back.outputs[0]!]!;
        expect(output).toMatchObject({ type: 'int8', shape: [1, 4] });
        expect(output.quantization!.scale[0]).toBe(1 / 256);
        expect(output.quantization!.zeroPoint[0]).toBe(-128);
        for (const op of back.operators) {
          if (op.op === 'CONV_2D' || op.op === 'DEPTHWISE_CONV_2D') {
            const w = back.tensors[op.inputs[1]!]!;
            const b = back.tensors[op.inputs[2]!]!;
            expect(w.type).toBe('int8');
            expect(w.quantization!.zeroPoint.every((z) => z === 0)).toBe(true);
            expect(w.quantization!.quantizedDimension).toBe(op.op === 'CONV_2D' ? 0 : 3);
            expect(b.type).toBe('int32');
            const inScale = back.tensors[op.inputs[0]!]!.quantization!.scale[0]!;
            expect(b.quantization!.zeroPoint.every((z) => z === 0)).toBe(true);
            b.quantization!.scale.forEach((s, c) => expect(Math.abs(s / (inScale * w.quantization!.scale[c]!) - 1)).toBeLessThan(1e-6));
          }
        }
        // The compact form leaves the convolution biases' parameters out and keeps FULLY_CONNECTED's.
        const compact = readTflite(writeTflite(buildTfliteModel(r.graph, r.params, getPlastisortMetadata(back)!, { biasQuantParams: false })));
        for (const op of compact.operators) {
          const bias = compact.tensors[op.inputs[2] ?? -1];
          if (op.op === 'CONV_2D' || op.op === 'DEPTHWISE_CONV_2D') expect(bias!.quantization).toBeUndefined();
          if (op.op === 'FULLY_CONNECTED') expect(bias!.quantization!.scale).toHaveLength(1);
        }
        expect(compact.buffers).toEqual(back.buffers);
        expect(back.operators.some((op) => op.op === 'PAD')).toBe(size % 2 === 1);
        expect(getPlastisortMetadata(back)).toMatchObject({ labels: CLASSES, inputSize: size, inputContract: 'rgb888_minus_128', floatScaling: SCALING, runId: 'test-run' });

        // LiteRT runs the bytes with q = p − 128.
        const lite = await loadLiteRtModel(r.tflite);
        const ref = (model.predict(imagesToBatch(test, size, SCALING)) as tf.Tensor).arraySync() as number[][];
        const sim = new IrExecutor(r.graph, fakeQuantOf(r.graph, r.params));
        const iq = inputQuantization(SCALING);
        const simOut = sim.run(imagesToBatch(test, size, { scale: iq.scale, offset: -(128 + iq.zeroPoint) * iq.scale })).arraySync() as number[][];
        sim.dispose();
        let maxVsFloat = 0;
        let sumVsFloat = 0;
        let maxVsSim = 0;
        let clear = 0;
        let clearAgree = 0;
        for (let i = 0; i < test.length; i++) {
          const [o] = await lite.run([Int8Array.from(test[i]!, (p) => p - 128)]);
          const probs = Array.from(o as Int8Array, (v) => (v + 128) / 256);
          const top = (a: number[]) => a.indexOf(Math.max(...a));
          const sorted = [...ref[i]!].sort((a, b) => b - a);
          if (sorted[0]! - sorted[1]! > 0.04) {
            clear++;
            if (top(probs) === top(ref[i]!)) clearAgree++;
          }
          for (let j = 0; j < 4; j++) {
            maxVsFloat = Math.max(maxVsFloat, Math.abs(probs[j]! - ref[i]![j]!));
            sumVsFloat += Math.abs(probs[j]! - ref[i]![j]!);
            maxVsSim = Math.max(maxVsSim, Math.abs(probs[j]! - simOut[i]![j]!));
          }
        }
        lite.dispose();
        // Bounds: LiteRT's integer kernels agree with our float simulation of the same int8 graph to a few
        // output LSB (1/256 each; requantization rounding compounds over 8 layers), and with the float model
        // to the accumulated activation quantization error: mean |Δp| under 0.01, max under 0.08; wherever
        // the float model's top class leads by more than 0.04 (random images on an untrained net give
        // near-ties), int8 picks the same class.
        expect(maxVsSim).toBeLessThanOrEqual(4 / 256);
        expect(sumVsFloat / (4 * test.length)).toBeLessThan(0.01);
        expect(maxVsFloat).toBeLessThan(0.08);
        expect(clear).toBeGreaterThanOrEqual(test.length / 3);
        expect(clearAgree).toBe(clear);
      });
    }
  }

  for (const evaluator of ['litert', 'simulate'] as const) {
    it(`chooses a calibration method on validation images (${evaluator}) and reports the input offset effect`, async () => {
      const size = 16;
      const model = tinyClassifier({ size, batchNorm: true, seed: 9 });
      const val = randomImages(24, size, 31);
      const r = await quantizeModel(model, configFor(size), randomImages(16, size, 2), {
        method: 'auto',
        evaluator,
        validation: { images: val, labels: val.map((_, i) => i % 4) },
        keepCandidates: evaluator === 'simulate',
      });
      expect(r.report.candidates.map((c) => c.method)).toEqual(['minmax', 'percentile', 'mse']);
      if (evaluator === 'simulate') {
        // Every candidate's file is kept, and the chosen one is byte for byte what ships.
        expect(Object.keys(r.candidateFiles!)).toEqual(['minmax', 'percentile', 'mse']);
        expect(Buffer.from(r.candidateFiles![r.report.method]!).equals(Buffer.from(r.tflite))).toBe(true);
        const others = r.report.candidates.filter((c) => c.method !== r.report.method).map((c) => Buffer.from(r.candidateFiles![c.method]!));
        expect(others.some((b) => !b.equals(Buffer.from(r.tflite)))).toBe(true);
      } else {
        expect(r.candidateFiles).toBeUndefined();
      }
      // The shipped method is the one whose int8 probabilities lie closest to float's (mean L1 on val).
      const l1s = r.report.candidates.map((c) => c.meanL1!);
      expect(r.report.candidates.find((c) => c.method === r.report.method)!.meanL1).toBe(Math.min(...l1s));
      expect(new Set(l1s).size).toBeGreaterThan(1);
      if (evaluator === 'litert') {
        // Recomputed here: the shipped file in LiteRT against the tfjs model's own probabilities.
        const ref = (model.predict(imagesToBatch(val, size, SCALING)) as tf.Tensor).arraySync() as number[][];
        const lite = await loadLiteRtModel(r.tflite);
        let l1 = 0;
        for (let i = 0; i < val.length; i++) {
          const [o] = await lite.run([Int8Array.from(val[i]!, (p) => p - 128)]);
          Array.from(o as Int8Array, (v) => (v + 128) / 256).forEach((q, j) => (l1 += Math.abs(q - ref[i]![j]!)));
        }
        lite.dispose();
        // The scorer runs the verbose-bias form (XNNPACK); the shipped bytes may take other kernels: ±1 LSB.
        expect(r.report.validation!.int8.meanL1).toBeCloseTo(l1 / val.length, 2);
        expect(r.report.validation!.int8.meanL1).toBeGreaterThan(0);
      }
      expect(r.report.validation).toMatchObject({ images: 24, evaluator });
      expect(r.report.validation!.int8.agreement).toBeGreaterThanOrEqual(0.75);
      expect(r.report.input.compensatedInFirstLayer).toBe(true);
      expect(r.report.input.effect).toMatchObject({ evaluator, shipped: r.report.validation!.int8 });
      expect(r.report.input.effect!.uncompensated.agreement).toBeGreaterThanOrEqual(0.5);
      expect(r.report.tensors[0]).toMatchObject({ scale: SCALING.scale, zeroPoint: 0 });
      expect(r.report.sizes.tfliteBytes).toBe(r.tflite.byteLength);
    });
  }

  it('bias correction changes only biases, and the report says whether it ran', async () => {
    const model = tinyClassifier({ size: 16, batchNorm: true, seed: 4 });
    const calib = randomImages(12, 16, 8);
    const on = await quantizeModel(model, configFor(16), calib, { method: 'minmax' });
    const off = await quantizeModel(model, configFor(16), calib, { method: 'minmax', biasCorrection: false });
    expect(on.report.biasCorrection).toBe(true);
    expect(off.report.biasCorrection).toBe(false);
    let changed = 0;
    for (const [name, w] of on.params.weights) {
      const o = off.params.weights.get(name)!;
      expect(Array.from(w.weights)).toEqual(Array.from(o.weights));
      expect(w.biasScales).toEqual(o.biasScales);
      for (let c = 0; c < w.bias.length; c++) if (w.bias[c] !== o.bias[c]) changed++;
    }
    expect(changed).toBeGreaterThan(0);
    expect(on.tflite.byteLength).toBe(off.tflite.byteLength);
  });

  it('refuses a model whose output does not match the class list', async () => {
    const model = tinyClassifier({ size: 16, batchNorm: false, classes: 3 });
    await expect(quantizeModel(model, configFor(16), randomImages(2, 16, 1), { method: 'minmax' })).rejects.toThrow(/outputs \[1,3\] but config lists 4 classes/);
  });
});
