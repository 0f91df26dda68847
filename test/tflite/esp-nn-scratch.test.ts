import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { arenaBudget } from '../../host/tflite/arena-budget.ts';
import { planArena } from '../../host/tflite/arena.ts';
import { scratchBytes } from '../../host/tflite/esp-nn-scratch.ts';
import type { Padding, TfliteModel } from '../../host/tflite/model.ts';
import { readTflite } from '../../host/tflite/reader.ts';
import { GraphBuilder, expectValidArena, i8Bytes } from './models.ts';

const DEFAULT_MODEL = new URL('../../models/default.tflite', import.meta.url);

/** One int8 convolution [1,h,w,c] → [1,oh,ow,oc] with a k×k filter, as the only operator. */
function convModel(
  kind: 'CONV_2D' | 'DEPTHWISE_CONV_2D',
  [h, w, c]: [number, number, number],
  [oh, ow, oc]: [number, number, number],
  k: number,
  stride: number,
  padding: Padding,
): TfliteModel {
  const g = new GraphBuilder();
  const q = { scale: [0.1], zeroPoint: [0] };
  const input = g.activation('in', [1, h, w, c], 'int8');
  const filterShape = kind === 'CONV_2D' ? [oc, k, k, c] : [1, k, k, oc];
  const n = filterShape.reduce((a, b) => a * b, 1);
  const filter = g.constant('w', filterShape, 'int8', i8Bytes(new Array(n).fill(1)));
  const output = g.activation('out', [1, oh, ow, oc], 'int8');
  g.model.tensors[input]!.quantization = q;
  g.model.tensors[output]!.quantization = q;
  const base = { padding, strideW: stride, strideH: stride, dilationW: 1, dilationH: 1, fusedActivation: 'NONE' as const };
  g.model.operators.push(
    kind === 'CONV_2D'
      ? { op: 'CONV_2D', inputs: [input, filter], outputs: [output], options: base }
      : { op: 'DEPTHWISE_CONV_2D', inputs: [input, filter], outputs: [output], options: { ...base, depthMultiplier: 1 } },
  );
  g.model.inputs = [input];
  g.model.outputs = [output];
  return g.model;
}

describe('ESP-NN esp32s3 scratch sizes', () => {
  it('1×1 stride-1 convolution: channel-padded filter copy + transpose buffer + slack', () => {
    const m = convModel('CONV_2D', [3, 3, 320], [3, 3, 1280], 1, 1, 'VALID');
    // 320 × 1280 filter bytes, 2 × 8 × 320 transpose, 32 (legacy) or 64 (current) slack.
    expect(scratchBytes(m, 0, 'legacy')).toBe(409_600 + 5_120 + 32);
    expect(scratchBytes(m, 0, 'current')).toBe(409_600 + 5_120 + 64);
    // Channels not a multiple of 8 also copy the input with channels padded to 8; fewer than 8
    // positions need no transpose buffer.
    const odd = convModel('CONV_2D', [2, 3, 12], [2, 3, 4], 1, 1, 'VALID');
    expect(scratchBytes(odd, 0, 'legacy')).toBe(6 * 16 + 16 * 4 + 32);
  });

  it('3×3 convolution over 3 channels: padded input and filter (legacy), im2col (current)', () => {
    const m = convModel('CONV_2D', [96, 96, 3], [48, 48, 32], 3, 2, 'SAME');
    // SAME, stride 2, 96 → 48: total padding 1, so TFLM's leading padding is 0 and legacy copies no input.
    expect(scratchBytes(m, 0, 'legacy')).toBe(3 * 3 * 16 * 32 + 32 + 4 * 32);
    // window 27 → 32: 4·32 + 16 + 32·32 + 16 + 32 + 64
    expect(scratchBytes(m, 0, 'current')).toBe(128 + 16 + 1024 + 16 + 32 + 64);
  });

  it('3×3 depthwise, channels % 16 == 0: whole padded input (legacy), row strips above 40 KB (current)', () => {
    const m = convModel('DEPTHWISE_CONV_2D', [48, 48, 96], [24, 24, 96], 3, 2, 'SAME');
    // TFLM padding 0 → right/bottom padding (24·2 + 2) − 48 = 2 added by the kernel.
    expect(scratchBytes(m, 0, 'legacy')).toBe(864 + 50 * 50 * 96 + 16);
    expect(scratchBytes(m, 0, 'current')).toBe(864 + 50 * 3 * 96 + 16);
    const small = convModel('DEPTHWISE_CONV_2D', [6, 6, 16], [6, 6, 16], 3, 1, 'SAME');
    expect(scratchBytes(small, 0, 'current')).toBe(144 + 8 * 8 * 16 + 16);
  });

  it('a scratch buffer lives only during its operator in the plan', () => {
    const m = convModel('CONV_2D', [4, 4, 16], [4, 4, 16], 1, 1, 'VALID');
    const plan = planArena(m, [1000]);
    expect(plan.scratch).toEqual([{ op: 0, offset: expect.any(Number), bytes: 1000 }]);
    expect(plan.peakBytes).toBe(1008 + 256 + 256); // placed at 16-byte-aligned offsets
    expectValidArena(plan);
  });
});

describe('arena for models/default.tflite on an ESP32-S3 (issue 13 board measurements)', () => {
  const model = readTflite(readFileSync(DEFAULT_MODEL), 'models/default.tflite');
  const budget = arenaBudget(model);
  const byVersion = (v: string) => budget.espNn.find((e) => e.version === v)!;

  it('names the requests the board logged', () => {
    const current = byVersion('current');
    expect(current.largestScratch).toMatchObject({ opName: 'CONV_2D', bytes: 414_784 });
    const legacyDepthwise = byVersion('legacy').scratch.filter((s) => s.opName === 'DEPTHWISE_CONV_2D');
    expect(Math.max(...legacyDepthwise.map((s) => s.bytes))).toBe(240_880);
  });

  it('differs between esp-nn versions by what the board measured, and covers both', () => {
    // Measured: 575,980 B (esp-nn 1.2.x) and 664,156 B (1.1.x / 1.2.0) with the same persistent part.
    expect(byVersion('legacy').plannedBytes - byVersion('current').plannedBytes).toBe(664_156 - 575_980);
    expect(budget.worst).toBe('legacy');
    expect(budget.totalBytes).toBeGreaterThanOrEqual(664_156);
    // Reference kernels (no scratch), measured 423,036 B: the persistent estimate covers it.
    expect(budget.activationBytes + budget.persistentBytes).toBeGreaterThanOrEqual(423_036);
    expect(budget.preserveAllBytes).toBeGreaterThanOrEqual(4_200_000);
  });
});

describe('plastisort inspect --json arena breakdown', () => {
  it('lists activations, scratch per op for each esp-nn form, persistent and the arena the firmware uses', async () => {
    const { inspectTfliteFile } = await import('../../host/tflite/inspect.ts');
    const r = await inspectTfliteFile(DEFAULT_MODEL.pathname);
    expect(r.arena.peakBytes).toBe(276_480);
    expect(r.arena.totalBytes).toBeGreaterThanOrEqual(664_156);
    expect(r.arena.persistentParts.fixed).toBeGreaterThan(0);
    for (const v of r.arena.espNn) {
      // One request per CONV_2D / DEPTHWISE_CONV_2D plus MEAN and SOFTMAX.
      expect(v.scratch.length).toBe(35 + 17 + 2);
      expect(v.scratch.every((s) => s.bytes > 0 && s.name.length > 0)).toBe(true);
    }
    const header = readFileSync(new URL('../../firmware/main/model/model_info.h', import.meta.url), 'utf8');
    expect(header).toContain(`constexpr size_t kArenaBytes = ${r.arena.totalBytes};`);
  });
});
