/**
 * The int8 reference engine (firmware/sim/int8_engine, run through its `int8-run` tool)
 * against LiteRT on the same .tflite bytes: outputs within ±1 LSB on ≥ 99% of values in the device
 * arithmetics (double/single rounding), every value bit-exact in the xnnpack arithmetic, and the engine
 * bit-exact across repeated runs, for small models covering every op the exporter emits, and (when
 * present) the official int8 ImageNet MobileNetV2.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadLiteRtModel } from '../../host/tflite/litert.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { int8RunPath, runInt8 } from './int8-run.ts';
import { blockModel, headModel, padPoolModel, rng, standaloneActivationModel, tieModel, type TestModel } from './models.ts';

interface Agreement {
  values: number;
  exact: number;
  within1: number;
  maxDiff: number;
}

function compare(a: ArrayLike<number>[], b: ArrayLike<number>[]): Agreement {
  const s: Agreement = { values: 0, exact: 0, within1: 0, maxDiff: 0 };
  a.forEach((x, i) => {
    const y = b[i]!;
    expect(y.length).toBe(x.length);
    for (let k = 0; k < x.length; k++) {
      const d = Math.abs(x[k]! - y[k]!);
      s.values++;
      if (d === 0) s.exact++;
      if (d <= 1) s.within1++;
      s.maxDiff = Math.max(s.maxDiff, d);
    }
  });
  return s;
}

function fmt(s: Agreement): string {
  return `${s.values} values, exact ${((100 * s.exact) / s.values).toFixed(2)}%, ±1 LSB ${((100 * s.within1) / s.values).toFixed(2)}%, max |diff| ${s.maxDiff}`;
}

const MODELS: TestModel[] = [
  blockModel(11),
  headModel(12, false, false),
  headModel(13, true, false),
  headModel(14, false, true),
  padPoolModel(15),
  standaloneActivationModel(16),
];
// Built so that the device arithmetics and LiteRT's round about half the values differently.
const TIE_MODEL = tieModel(17);
const INPUTS_PER_MODEL = 24;

describe('int8 engine agrees with LiteRT', () => {
  beforeAll(() => {
    int8RunPath(); // builds the tool once if needed
  });

  for (const tm of [...MODELS, TIE_MODEL]) {
    it(tm.name, async () => {
      const bytes = writeTflite(tm.model);
      const r = rng(tm.name.length * 977 + 5);
      const count = tm.inputShape.reduce((a, b) => a * b, 1);
      const inputs = Array.from({ length: INPUTS_PER_MODEL }, () => Int8Array.from({ length: count }, () => Math.floor(r() * 256) - 128));

      const lite = await loadLiteRtModel(bytes, tm.name);
      const liteOut: Int8Array[] = [];
      try {
        for (const x of inputs) liteOut.push((await lite.run([x]))[0] as Int8Array);
      } finally {
        lite.dispose();
      }
      const asBytes = inputs.map((x) => new Uint8Array(x.buffer));
      const engine = runInt8(bytes, asBytes).map((b) => new Int8Array(b.buffer, b.byteOffset, b.byteLength));
      const again = runInt8(bytes, asBytes);
      again.forEach((b, i) => expect(Buffer.from(b).equals(Buffer.from(engine[i]!.buffer, engine[i]!.byteOffset, engine[i]!.byteLength))).toBe(true));

      const dbl = compare(engine, liteOut);
      const single = runInt8(bytes, asBytes, { rounding: 'single' }).map((b) => new Int8Array(b.buffer, b.byteOffset, b.byteLength));
      const sgl = compare(single, liteOut);
      const variants = compare(engine, single);
      const xnnOut = runInt8(bytes, asBytes, { rounding: 'xnnpack' }).map((b) => new Int8Array(b.buffer, b.byteOffset, b.byteLength));
      const xnn = compare(xnnOut, liteOut);
      console.log(
        `${tm.name}\n  engine(double) vs LiteRT: ${fmt(dbl)}\n  engine(single) vs LiteRT: ${fmt(sgl)}\n  engine(xnnpack) vs LiteRT: ${fmt(xnn)}\n  double vs single: ${fmt(variants)}`,
      );
      // The outputs must not be degenerate (all saturated), or agreement would mean nothing.
      const distinct = new Set(engine.flatMap((o) => Array.from(o)));
      expect(distinct.size).toBeGreaterThan(5);
      // The xnnpack variant reproduces LiteRT's own arithmetic: every value, bit for bit.
      expect(xnn.exact).toBe(xnn.values);
      if (tm === TIE_MODEL) {
        // Here the device arithmetics must differ from LiteRT, or the bit-exactness above proves nothing.
        expect(sgl.exact).toBeLessThan(sgl.values * 0.9);
        expect(dbl.exact).toBeLessThan(dbl.values * 0.9);
      } else {
        expect(dbl.within1 / dbl.values).toBeGreaterThanOrEqual(0.99);
        expect(sgl.within1 / sgl.values).toBeGreaterThanOrEqual(0.99);
      }
    });
  }
});

const IMAGENET_DIR = '/work/shared/backbones/mobilenet_v2_1.0_224_imagenet';
const IMAGENET_MODEL = join(IMAGENET_DIR, 'tflite', 'tf2_mobilenet_v2_1.0_224_ptq.tflite');
const haveImagenet = existsSync(IMAGENET_MODEL);
if (!haveImagenet) console.warn(`skipping the ImageNet MobileNetV2 engine-vs-LiteRT test: ${IMAGENET_MODEL} is absent`);

describe.skipIf(!haveImagenet)('int8 engine on the official int8 MobileNetV2 (ImageNet)', () => {
  it('matches LiteRT top-1 and within ±1 LSB on the sample photos', async () => {
    const bytes = new Uint8Array(readFileSync(IMAGENET_MODEL));
    const lite = await loadLiteRtModel(bytes, IMAGENET_MODEL);
    const inputInfo = lite.inputs()[0]!;
    const samples = readdirSync(join(IMAGENET_DIR, 'samples')).filter((f) => /\.(jpe?g|png|bmp)$/i.test(f)).sort();
    const inputs: Uint8Array[] = [];
    for (const f of samples) {
      const file = join(IMAGENET_DIR, 'samples', f);
      try {
        const raw = await sharp(file).removeAlpha().resize(224, 224, { fit: 'fill' }).raw().toBuffer();
        inputs.push(new Uint8Array(raw));
      } catch {
        // sharp cannot decode BMP; those samples are skipped.
      }
    }
    expect(inputs.length).toBeGreaterThan(0);
    const liteOut: ArrayLike<number>[] = [];
    try {
      for (const x of inputs) {
        const arr = inputInfo.dtype === 'int8' ? new Int8Array(x.map((v) => v - 128)) : x;
        liteOut.push((await lite.run([arr]))[0]!);
      }
    } finally {
      lite.dispose();
    }
    const engIn = inputInfo.dtype === 'int8' ? inputs.map((x) => Uint8Array.from(x, (v) => (v - 128) & 0xff)) : inputs;
    const outIsInt8 = lite.outputs()[0]!.dtype === 'int8';
    const engine = runInt8(bytes, engIn).map((b) => (outIsInt8 ? new Int8Array(b.buffer, b.byteOffset, b.byteLength) : b));
    const argmax = (a: ArrayLike<number>) => {
      let best = 0;
      for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
      return best;
    };
    const top1 = engine.filter((e, i) => argmax(e) === argmax(liteOut[i]!)).length;
    const s = compare(engine, liteOut);
    const single = runInt8(bytes, engIn, { rounding: 'single' }).map((b) => (outIsInt8 ? new Int8Array(b.buffer, b.byteOffset, b.byteLength) : b));
    const top1Single = single.filter((e, i) => argmax(e) === argmax(liteOut[i]!)).length;
    const xnnOut = runInt8(bytes, engIn, { rounding: 'xnnpack' }).map((b) => (outIsInt8 ? new Int8Array(b.buffer, b.byteOffset, b.byteLength) : b));
    const xnn = compare(xnnOut, liteOut);
    console.log(
      `ImageNet MobileNetV2 int8 (${inputs.length} photos): top-1 agreement double ${top1}/${inputs.length}, single ${top1Single}/${inputs.length}\n` +
        `  engine(double) vs LiteRT: ${fmt(s)}\n  engine(single) vs LiteRT: ${fmt(compare(single, liteOut))}\n  engine(xnnpack) vs LiteRT: ${fmt(xnn)}`,
    );
    expect(top1).toBe(inputs.length);
    expect(s.within1 / s.values).toBeGreaterThanOrEqual(0.99);
    // 68 operators deep, the xnnpack arithmetic still reproduces every LiteRT output value.
    expect(xnn.exact).toBe(xnn.values);
  });
});

describe('int8 engine input tolerance', () => {
  it('ignores bias quantization params and accepts quantization vectors shared between tensors', () => {
    const tm = blockModel(21);
    const biasIds = new Set(tm.model.operators.flatMap((op) => (op.op === 'CONV_2D' || op.op === 'DEPTHWISE_CONV_2D' ? [op.inputs[2]!] : [])));
    expect(biasIds.size).toBeGreaterThan(0);
    const stripped = { ...tm.model, tensors: tm.model.tensors.map((t, i) => (biasIds.has(i) ? { ...t, quantization: undefined } : t)) };
    const plain = writeTflite(tm.model, { shareVectors: false });
    const compact = writeTflite(stripped, { shareVectors: true });
    expect(compact.length).toBeLessThan(plain.length);
    const r = rng(21);
    const count = tm.inputShape.reduce((a, b) => a * b, 1);
    const inputs = Array.from({ length: 4 }, () => Uint8Array.from({ length: count }, () => Math.floor(r() * 256)));
    for (const rounding of ['double', 'single', 'xnnpack'] as const) {
      const a = runInt8(plain, inputs, { rounding });
      const b = runInt8(compact, inputs, { rounding });
      b.forEach((x, i) => expect(Buffer.from(x).equals(Buffer.from(a[i]!))).toBe(true));
    }
  });
});
