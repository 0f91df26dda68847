/**
 * A complete ReportInput built from synthetic but internally consistent data, for the report tests.
 * Metrics come from computeMetrics on generated labels; nothing is hard-coded output.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { computeMetrics, type EvalMetrics } from '../../host/shared/metrics.ts';
import type { ReportInput } from '../../host/report/report-input.ts';
import { createRng } from '../../host/util/rng.ts';

export const CLASSES = ['bottle', 'bag', 'straw', 'container', 'cup', 'lid'];

function predictions(truth: number[], correctRate: number, seed: number): number[] {
  const r = createRng(seed);
  return truth.map((t) => (r() < correctRate ? t : Math.floor(r() * CLASSES.length)));
}

function history(epochs: number, start: number, seed: number) {
  const r = createRng(seed);
  return {
    stage: 'x',
    bestEpoch: Math.max(1, epochs - 2),
    epochs: Array.from({ length: epochs }, (_, i) => ({
      epoch: i + 1,
      loss: start / (i + 1.5) + 0.05 * r(),
      accuracy: 1 - 0.6 / (i + 1.5),
      valLoss: (start * 1.1) / (i + 1.5) + 0.02 * i,
      valAccuracy: 0.95 - 0.6 / (i + 1.5) - 0.02 * r(),
      seconds: 10,
    })),
  };
}

export async function makeContactSheet(dir: string): Promise<string> {
  const tiles = CLASSES.map((_, i) => ({
    input: { create: { width: 96, height: 96, channels: 3 as const, background: { r: 40 * i, g: 200 - 30 * i, b: 120 } } },
    left: 8 + i * 104,
    top: 8,
  }));
  const path = join(dir, 'contact-sheet.png');
  await sharp({ create: { width: 8 + CLASSES.length * 104, height: 112, channels: 3, background: '#ffffff' } })
    .composite(tiles)
    .png()
    .toFile(path);
  return path;
}

export function makeEvaluations(): { label: string; metrics: EvalMetrics }[] {
  const r = createRng(11);
  const truth = Array.from({ length: 215 }, () => Math.floor(r() * CLASSES.length));
  const floatPred = predictions(truth, 0.9, 2);
  const int8Pred = floatPred.map((p, i) => (i % 40 === 0 ? (p + 1) % CLASSES.length : p));
  const devicePred = int8Pred.map((p, i) => (i === 7 ? (p + 2) % CLASSES.length : p));
  const m = (pred: number[]) => {
    const x = computeMetrics(truth, pred, CLASSES, { bootstrap: 200, seed: 1 });
    x.split = 'test';
    return x;
  };
  const int8 = m(int8Pred);
  const same = int8Pred.filter((p, i) => p === floatPred[i]).length;
  int8.agreement = { reference: 'fine-tuned (float)', n: truth.length, top1: same / truth.length };
  return [
    { label: 'baseline', metrics: m(predictions(truth, 0.84, 3)) },
    { label: 'fine-tuned', metrics: m(floatPred) },
    { label: 'int8 (LiteRT)', metrics: int8 },
    { label: 'device', metrics: m(devicePred) },
  ];
}

export async function makeReportInput(dir: string, opts: { fallback?: boolean } = {}): Promise<ReportInput> {
  const evaluations: ReportInput['evaluations'] = makeEvaluations();
  const errorsImage = join(dir, 'errors.png');
  await sharp({ create: { width: 136, height: 172, channels: 3, background: '#3060c0' } }).png().toFile(errorsImage);
  evaluations[1]!.errorsImage = errorsImage;
  const counts = Object.fromEntries(CLASSES.map((c, i) => [c, { train: 160 + 5 * i, val: 34 + i, test: 35 + (i % 3) }]));
  return {
    title: 'plastisort report: test fixture',
    subtitle: 'synthetic data',
    generatedAt: '2026-01-01T00:00:00Z',
    backbone: opts.fallback
      ? { kind: 'nsfwjs', source: 'npm:nsfwjs (mobilenet_v2)', fallback: true }
      : { kind: 'tfjs-layers', source: '../shared/backbones/mobilenet_v2_1.0_224_imagenet/tfjs', sha256: 'ab'.repeat(32) },
    dataset: {
      manifest: { classes: CLASSES, counts, duplicateGroups: 12, conflicts: [{}], dropped: [], seed: 1 },
      manifestPath: 'out/split.json',
      contactSheet: await makeContactSheet(dir),
      notes: ['synthetic images from plastisort data synth'],
    },
    training: { baseline: history(12, 1.4, 1), finetune: history(5, 0.5, 2) },
    evaluations,
    model: {
      path: 'out/model.tflite',
      fileBytes: 2_571_234,
      ops: [
        { op: 'CONV_2D', count: 36 },
        { op: 'DEPTHWISE_CONV_2D', count: 17 },
        { op: 'ADD', count: 10 },
        { op: 'MEAN', count: 1 },
        { op: 'FULLY_CONNECTED', count: 1 },
        { op: 'SOFTMAX', count: 1 },
      ],
      weightBytes: { total: 2_450_000 },
      arena: { peakBytes: 1_204_224, activationBytesTotal: 9_000_000 },
      inputs: [{ shape: [1, 224, 224, 3], type: 'int8', quantization: { scale: [0.0078125], zeroPoint: [0] } }],
      outputs: [{ shape: [1, 6], type: 'int8', quantization: { scale: [1 / 256], zeroPoint: [-128] } }],
    },
    hil: {
      device: { link: 'sim:/dev/pts/3', firmware: 'sorter 0.1.0', arenaUsedBytes: 1_250_000 },
      n: 215,
      vsLitert: { n: 215, top1: 0.9953, within1: 0.998, maxAbs: 2, meanAbs: 0.01, histogram: { '0': 1270, '1': 15, '2-3': 5, '4+': 0 } },
      roundingMatched: 'double',
      timing: { invokeUsMean: 41_000, invokeUsP95: 45_500, imagesPerSecond: 5.4, baud: 921_600, linkUtilisation: 0.93, wireBytesPerImage: 150_600, seconds: 40 },
      link: { retries: 0, resets: 0, framesRejected: 0, reconnects: 0 },
      invokeUs: Array.from({ length: 215 }, (_, i) => 40_000 + ((i * 7919) % 6000)),
    },
    notes: ['fixture for the report tests'],
  };
}
