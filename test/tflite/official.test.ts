import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { inspectModel } from '../../host/tflite/inspect.ts';
import { loadLiteRtModel, type LiteRtArray } from '../../host/tflite/litert.ts';
import type { TfliteModel } from '../../host/tflite/model.ts';
import { readTflite, readTfliteFile } from '../../host/tflite/reader.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { planArena } from '../../host/tflite/arena.ts';
import { expectValidArena } from './models.ts';

const DIR = join(import.meta.dirname, '../../../shared/backbones/mobilenet_v2_1.0_224_imagenet');
const PTQ = join(DIR, 'tflite/tf2_mobilenet_v2_1.0_224_ptq.tflite');
const QAT = join(DIR, 'tflite/mobilenet_v2_1.0_224_quant.tflite');
const present = existsSync(PTQ) && existsSync(QAT);
if (!present) console.warn(`SKIPPED official TFLite tests: ${DIR} not found (shared ImageNet MobileNetV2 files)`);

/** MobileNetV2 facts: 17 inverted residual blocks, 16 with an expansion conv, 10 residual adds. */
const CONV_2D = 1 + 16 + 17 + 1 + 1; // stem, expansions, projections, Conv_1, 1×1 logits
const DEPTHWISE = 17;
const ADDS = 10;

function opCount(r: ReturnType<typeof inspectModel>, op: string): number {
  return r.ops.find((o) => o.op === op)?.count ?? 0;
}

/** Resize to the input size (squash), then quantize x = p/127.5 − 1 with the input tensor's parameters. */
async function preprocess(model: TfliteModel, jpeg: string): Promise<LiteRtArray> {
  const input = model.tensors[model.inputs[0]!]!;
  const [, h, w] = input.shape as [number, number, number, number];
  const { data } = await sharp(jpeg).removeAlpha().resize(w, h, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  const { scale, zeroPoint } = input.quantization!;
  const [lo, hi, Arr] = input.type === 'int8' ? [-128, 127, Int8Array] : [0, 255, Uint8Array];
  const out = new Arr(data.length);
  for (let i = 0; i < data.length; i++) {
    const x = data[i]! / 127.5 - 1;
    out[i] = Math.min(hi, Math.max(lo, Math.round(x / scale[0]! + zeroPoint[0]!)));
  }
  return out;
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

describe.skipIf(!present)('official ImageNet MobileNetV2 .tflite files', () => {
  it('reads both files and inspect reports their ops, tensors and sizes', async () => {
    for (const [file, first] of [
      [PTQ, 'QUANTIZE'],
      [QAT, 'CONV_2D'],
    ] as const) {
      const model = await readTfliteFile(file);
      const size = readFileSync(file).length;
      const r = inspectModel(model, size);
      expect(r.ops[0]!.op).toBe(first);
      expect(opCount(r, 'CONV_2D')).toBe(CONV_2D);
      expect(opCount(r, 'DEPTHWISE_CONV_2D')).toBe(DEPTHWISE);
      expect(opCount(r, 'ADD')).toBe(ADDS);
      expect(opCount(r, 'SOFTMAX')).toBe(1);
      expect(r.tensorCount).toBe(r.constantTensorCount + r.activationTensorCount);
      // Every conv has a weight and a bias constant.
      expect(r.constantTensorCount).toBeGreaterThanOrEqual(2 * (CONV_2D + DEPTHWISE));
      // About 3.5 M parameters, one byte each, plus int32 biases; the rest of the file is structure.
      const weights8 = (r.weightBytes.byType.int8 ?? 0) + (r.weightBytes.byType.uint8 ?? 0);
      expect(weights8).toBeGreaterThan(3.3e6);
      expect(weights8).toBeLessThan(3.6e6);
      expect(r.weightBytes.byType.int32).toBeGreaterThan(0);
      expect(r.weightBytes.total).toBeLessThan(size);
      expect(r.weightBytes.total).toBeGreaterThan(0.85 * size);
      expect(r.inputs[0]!.shape).toEqual([1, 224, 224, 3]);
      expect(r.outputs[0]!.shape).toEqual([1, 1001]);
      // The 112×112×96 expansion output and its 112×112×16 input are live together.
      expect(r.arena.peakBytes).toBeGreaterThanOrEqual(112 * 112 * (96 + 16));
      expect(r.arena.peakBytes).toBeLessThan(r.arena.activationBytesTotal);
      expectValidArena(planArena(model));
      expect(r.problems).toEqual([]);
    }
  });

  it('classifies samples/hot_dog.jpg as "hotdog" through the LiteRT adapter, also after a rewrite by our writer', async () => {
    const labels = readFileSync(join(DIR, 'imagenet_labels.txt'), 'utf8').split('\n');
    const original = readTflite(readFileSync(PTQ), PTQ);
    const rewritten = writeTflite(original);
    const reread = readTflite(rewritten);
    expect(reread.tensors).toEqual(original.tensors);
    expect(reread.operators).toEqual(original.operators);

    for (const bytes of [readFileSync(PTQ), rewritten]) {
      const model = await loadLiteRtModel(bytes);
      try {
        const input = await preprocess(original, join(DIR, 'samples/hot_dog.jpg'));
        const [scores] = await model.run([input]);
        const top = argmax(scores!);
        expect(labels[top]!.split(',')[0]).toBe('hotdog');
      } finally {
        model.dispose();
      }
    }
  });
});
