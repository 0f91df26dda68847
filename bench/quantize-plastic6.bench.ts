/**
 * Quantization acceptance figures on plastic6 at input 224: float vs int8 (LiteRT) test accuracy and
 * macro F1, top-1 agreement, `.tflite` size against int8 weights + int32 biases, the arena estimate and
 * the time `plastisort quantize` takes (calibration and method choice included).
 *
 * The run to quantize: `--run DIR`, else $PLASTISORT_QUANTIZE_RUN, else the paper-protocol benchmark's
 * fine-tuned run (.cache/bench/paper-protocol/finetuned-center-crop-seed1). When none exists it trains a STAND-IN
 * (said so in the results): a frozen-backbone baseline at 224 with the ImageNet backbone from ../shared
 * (BASE_EPOCHS, default 8, one view per image).
 *   npm run bench -- quantize-plastic6
 *   node --import tsx bench/quantize-plastic6.bench.ts --run runs/finetune [--calib 300] [--method auto]
 * Targets: int8 accuracy within 1.0 pp of float (aim 0.5), .tflite within 5% of int8 weight + int32 bias
 * bytes, quantization under 2 minutes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../host/train/backend.ts';
import { loadRun } from '../host/train/run-folder.ts';
import { readManifest, writeManifest } from '../host/data/manifest-io.ts';
import { splitDataset } from '../host/data/split.ts';
import { computeMetrics, agreement } from '../host/shared/metrics.ts';
import { quantizeRun, loadItems } from '../host/quantize/quantize-run.ts';
import { imagesToBatch } from '../host/quantize/execute.ts';
import { readQuantizationVectorBytes, readTflite } from '../host/tflite/reader.ts';
import { writeTflite } from '../host/tflite/writer.ts';
import { inspectModel } from '../host/tflite/inspect.ts';
import { withoutConvBiasQuantParams } from '../host/quantize/tflite-builder.ts';
import { planArena } from '../host/tflite/arena.ts';
import { loadLiteRtModel } from '../host/tflite/litert.ts';
import { writeJsonAtomic } from '../host/util/atomic.ts';

const root = resolve(import.meta.dirname, '..');
const data = resolve(root, '../shared/datasets/plastic6/images');
const backbone = resolve(root, '../shared/backbones/mobilenet_v2_1.0_224_imagenet/tfjs');
const work = join(root, '.cache/bench/quantize-plastic6');
const outFile = join(root, 'bench/results/quantize-plastic6.json');

const { values: args } = parseArgs({
  options: {
    run: { type: 'string' },
    calib: { type: 'string', default: process.env.CALIB ?? '300' },
    method: { type: 'string', default: process.env.METHOD ?? 'auto' },
  },
});

function cpuSeconds(): number {
  const u = process.resourceUsage();
  return (u.userCPUTime + u.systemCPUTime) / 1e6;
}

async function standInRun(): Promise<string> {
  const { trainBaseline } = await import('../host/train/trainer.ts');
  const manifestPath = join(work, 'split-seed1.json');
  if (!existsSync(manifestPath)) {
    const { manifest } = await splitDataset({ data, seed: 1, progress: false });
    await writeManifest(manifestPath, manifest);
  }
  const out = join(work, 'standin-baseline');
  if (!existsSync(join(out, 'model', 'model.json'))) {
    await trainBaseline({
      manifest: manifestPath,
      out,
      backbone,
      inputSize: 224,
      batchSize: 32,
      epochs: Number(process.env.BASE_EPOCHS ?? 8),
      patience: 3,
      lr: 1e-3,
      dropout: 0.2,
      views: 1,
      seed: 1,
      shareBoundary: 'none',
    });
  }
  return out;
}

if (!args.run && !process.env.PLASTISORT_QUANTIZE_RUN && (!existsSync(data) || !existsSync(backbone))) {
  console.warn(`quantize-plastic6: skipped — needs PLASTISORT_QUANTIZE_RUN=DIR, or ${data} and ${backbone} to train a stand-in`);
  process.exit(0);
}

const backend = await initBackend();
const paperRun = join(root, '.cache/bench/paper-protocol/finetuned-center-crop-seed1');
let runDir = args.run ?? process.env.PLASTISORT_QUANTIZE_RUN;
let provenance = 'given';
if (!runDir && existsSync(join(paperRun, 'model', 'model.json'))) {
  runDir = paperRun;
  provenance = 'paper-protocol benchmark, fine-tuned, centre crop, split seed 1';
}
if (!runDir) {
  runDir = await standInRun();
  provenance = `STAND-IN: frozen-backbone baseline trained by this benchmark (${process.env.BASE_EPOCHS ?? 8} epochs max, 1 view), not the fine-tuned run`;
}
runDir = resolve(runDir);
const tflitePath = join(work, 'plastic6.tflite');

// 1. Quantize, timed like the CLI (image loading, calibration, method choice on val, writing).
const wall0 = performance.now();
const cpu0 = cpuSeconds();
const report = await quantizeRun(runDir, {
  out: tflitePath,
  calib: Number(args.calib),
  method: args.method as 'auto',
  seed: 1,
});
const quantizeSeconds = (performance.now() - wall0) / 1000;
const quantizeCpuSeconds = cpuSeconds() - cpu0;

// 1b. The same quantization with the chosen method fixed and no validation passes (what a re-run costs).
const wall1 = performance.now();
const cpu1 = cpuSeconds();
await quantizeRun(runDir, { out: join(work, 'plastic6-fixed.tflite'), calib: Number(args.calib), method: report.method, seed: 1, val: 0, measureOffset: false });
const fixedSeconds = (performance.now() - wall1) / 1000;
const fixedCpuSeconds = cpuSeconds() - cpu1;

// 2. Float (tfjs) and int8 (LiteRT) on the test split.
const { config, model } = await loadRun(runDir);
const { manifest } = await readManifest(report.manifest);
const testItems = manifest.items.filter((it) => it.split === 'test');
const images = await loadItems(manifest, testItems, config.inputSize, config.resize);
const labels = testItems.map((it) => it.label);
const floatPred: number[] = [];
for (let s = 0; s < images.length; s += 8) {
  const x = imagesToBatch(images.slice(s, s + 8), config.inputSize, config.floatScaling);
  const y = model.predict(x) as tf.Tensor;
  const rows = y.arraySync() as number[][];
  floatPred.push(...rows.map((r) => r.indexOf(Math.max(...r))));
  x.dispose();
  y.dispose();
}
const bytes = new Uint8Array(readFileSync(tflitePath));
const lite = await loadLiteRtModel(bytes, tflitePath);
const int8Pred: number[] = [];
const t1 = performance.now();
for (const img of images) {
  const [out] = await lite.run([Int8Array.from(img, (p) => p - 128)]);
  const o = out as Int8Array;
  let best = 0;
  for (let j = 1; j < o.length; j++) if (o[j]! > o[best]!) best = j;
  int8Pred.push(best);
}
const liteMsPerImage = (performance.now() - t1) / images.length;
lite.dispose();
const floatMetrics = computeMetrics(labels, floatPred, config.classes, { bootstrap: 0 });
const int8Metrics = computeMetrics(labels, int8Pred, config.classes, { bootstrap: 0 });
const arena = planArena(readTflite(bytes, tflitePath));
const weightBytes = report.sizes.int8WeightBytes + report.sizes.int32BiasBytes;

// 3. Size: the shipped file, the compact form (--no-bias-quant-params) and the one-copy-per-tensor
// layout TFLite's converter uses, each broken down; the compact form also run in LiteRT on a few test
// images, because without bias parameters XNNPACK leaves the convolutions to TFLite's built-in kernels.
const shippedModel = readTflite(bytes, tflitePath);
const compactBytes = writeTflite(withoutConvBiasQuantParams(shippedModel));
const unsharedBytes = writeTflite(shippedModel, { shareVectors: false });
const breakdown = (b: Uint8Array) => inspectModel(readTflite(b), b.length, readQuantizationVectorBytes(b).bytes).size;
const COMPACT_IMAGES = Math.min(images.length, Number(process.env.COMPACT_IMAGES ?? 24));
const compactLite = await loadLiteRtModel(compactBytes, 'compact');
const shippedLite = await loadLiteRtModel(bytes, tflitePath);
let compactValues = 0;
let compactIdentical = 0;
let compactMaxDiff = 0;
let compactTop1Same = 0;
let compactMs = 0;
for (const img of images.slice(0, COMPACT_IMAGES)) {
  const x = Int8Array.from(img, (p) => p - 128);
  const t = performance.now();
  const [c] = await compactLite.run([x]);
  compactMs += performance.now() - t;
  const [v] = await shippedLite.run([x]);
  const top = (o: ArrayLike<number>) => Array.from(o).indexOf(Math.max(...Array.from(o)));
  if (top(c!) === top(v!)) compactTop1Same++;
  for (let k = 0; k < c!.length; k++) {
    const d = Math.abs(c![k]! - v![k]!);
    compactValues++;
    if (d === 0) compactIdentical++;
    compactMaxDiff = Math.max(compactMaxDiff, d);
  }
}
compactLite.dispose();
shippedLite.dispose();

const accuracyDropPp = 100 * (floatMetrics.accuracy - int8Metrics.accuracy);
const compactOverheadPercent = (100 * (compactBytes.byteLength - weightBytes)) / weightBytes;
const sizeOverheadPercent = (100 * (bytes.byteLength - weightBytes)) / weightBytes;
const result = {
  benchmark: 'quantize-plastic6',
  date: new Date().toISOString(),
  command: `node --import tsx bench/quantize-plastic6.bench.ts${args.run ? ` --run ${args.run}` : ''} --calib ${args.calib} --method ${args.method}`,
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', loadAverage1m: loadavg()[0], backend: backend.name, threads: backend.threads },
  run: { dir: runDir, provenance, stage: config.stage, inputSize: config.inputSize, classes: config.classes },
  test: {
    images: images.length,
    float: { accuracy: floatMetrics.accuracy, macroF1: floatMetrics.macro.f1, perClassF1: Object.fromEntries(floatMetrics.perClass.map((c) => [c.class, c.f1])) },
    int8: { accuracy: int8Metrics.accuracy, macroF1: int8Metrics.macro.f1, perClassF1: Object.fromEntries(int8Metrics.perClass.map((c) => [c.class, c.f1])), runtime: 'LiteRT (@litertjs/core, XNNPACK)', msPerImage: liteMsPerImage },
    top1Agreement: agreement(floatPred, int8Pred),
    accuracyDropPp,
  },
  quantization: {
    method: report.method,
    candidates: report.candidates,
    validation: report.validation,
    calibrationImages: report.calibration.images,
    calibrationPerClass: report.calibrationPerClass,
    input: report.input,
    seconds: quantizeSeconds,
    fixedMethodNoValidation: { method: report.method, seconds: fixedSeconds, cpuSeconds: fixedCpuSeconds },
    secondsWithoutOffsetEffect: quantizeSeconds - report.timings.offsetEffectMs / 1000,
    cpuSeconds: quantizeCpuSeconds,
    timingsMs: { ...report.timings, loadMs: report.loadMs },
  },
  size: {
    tfliteBytes: bytes.byteLength,
    int8WeightBytes: report.sizes.int8WeightBytes,
    int32BiasBytes: report.sizes.int32BiasBytes,
    overheadPercent: sizeOverheadPercent,
    breakdown: breakdown(bytes),
    biasQuantParams: report.sizes.biasQuantParams,
    compact: {
      option: 'plastisort quantize --no-bias-quant-params (BuildOptions.biasQuantParams false)',
      tfliteBytes: compactBytes.byteLength,
      overheadPercent: compactOverheadPercent,
      breakdown: breakdown(compactBytes),
      liteRt: {
        images: COMPACT_IMAGES,
        msPerImage: compactMs / Math.max(1, COMPACT_IMAGES),
        outputValuesIdenticalToShipped: compactIdentical / Math.max(1, compactValues),
        maxAbsDiffLsb: compactMaxDiff,
        top1AgreementWithShipped: compactTop1Same / Math.max(1, COMPACT_IMAGES),
        note: "without bias quantization parameters LiteRT's XNNPACK delegate does not take CONV_2D / DEPTHWISE_CONV_2D; TFLite's built-in kernels run them",
      },
    },
    unsharedVectors: { tfliteBytes: unsharedBytes.byteLength, overheadPercent: (100 * (unsharedBytes.byteLength - weightBytes)) / weightBytes, note: 'one copy of every shape and quantization vector per tensor, as the previous writer and TFLite\'s converter store them' },
    note: 'what is left over weights + biases: the per-channel weight scales (float32) and bias scales, one all-zero int64 zero-point vector per distinct channel count, tables, tensor names and metadata',
  },
  arena: { peakBytes: arena.peakBytes, planner: 'host/tflite/arena.ts planArena (greedy), no TFLM overhead included' },
  targets: {
    accuracyWithin1pp: { target: '≤ 1.0 pp drop', value: accuracyDropPp, met: accuracyDropPp <= 1.0 },
    sizeWithin5Percent: { target: '≤ 5% over int8 weights + int32 biases', value: sizeOverheadPercent, met: sizeOverheadPercent <= 5, compactValue: compactOverheadPercent, compactMet: compactOverheadPercent <= 5 },
    quantizeUnder2Minutes: { target: '< 120 s wall (auto: calibration + method choice on val + offset effect)', value: quantizeSeconds, met: quantizeSeconds < 120 },
    quantizeUnder2MinutesFixedMethod: { target: '< 120 s wall (one method, no validation passes)', value: fixedSeconds, met: fixedSeconds < 120 },
  },
};
await writeJsonAtomic(outFile, result);
console.log(JSON.stringify({ test: result.test, size: result.size, quantizeSeconds, fixedSeconds, targets: result.targets }, null, 2));
console.log(`wrote ${outFile}`);
