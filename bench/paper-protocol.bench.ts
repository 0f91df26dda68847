/**
 * The paper's protocol on ../shared/datasets/plastic6 at input 224 with the ImageNet MobileNetV2 from
 * ../shared: for each split seed, a leakage-safe split, the frozen-backbone baseline (Adam 1e-3,
 * batch 32, ≤20 epochs, patience 3), then fine-tuning from block_13_expand with the `finetune`
 * command's recipe (PRESET, default `full`; `fast` is the earlier one), each evaluated on the test split
 * with bootstrap 95% intervals. Paired with each seed: the plain linear probe on the same split
 * (bench/probe.ts, iterations chosen on validation), and with QUANT=1 the fine-tuned model's int8
 * `.tflite` (plastisort quantize, --method auto; QUANT=0 skips it) run in LiteRT on the same test images. The summary
 * holds means with 95% t-intervals over seeds and the paired differences (fine-tuned − probe) with theirs.
 *
 * Writes bench/results/paper-protocol-plastic6.json after every seed (so a cut-short run still leaves
 * its figures). The defaults are the acceptance run of issue 16 (five seeds, int8 included); settings can be
 * reduced through the environment for a quicker look:
 *   RESIZE=center-crop SEEDS=1,2,3,4,5 VIEWS=3 BASE_EPOCHS=20 PRESET=full QUANT=1 npm run bench -- paper-protocol
 * (FT_EPOCHS overrides the preset's epochs.)
 * Throughput is given both per wall second and per CPU second (process CPU time), because on a
 * shared machine the wall figure mostly measures the neighbours.
 */
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import type { ResizePolicy } from '../host/data/images.ts';
import { splitDataset } from '../host/data/split.ts';
import { writeManifest } from '../host/data/manifest-io.ts';
import { writeJsonAtomic } from '../host/util/atomic.ts';
import { initBackend } from '../host/train/backend.ts';
import { finetuneRun, FINETUNE_PRESETS, trainBaseline, type FinetunePreset, type TrainResult } from '../host/train/trainer.ts';
import { meanStd, meanInterval } from './stats.ts';
import { int8TestMetrics, sameSplitProbe, testFigures, type ProbeResult, type TestFigures } from './paper-protocol-pairs.ts';

const root = resolve(import.meta.dirname, '..');
const data = resolve(root, '../shared/datasets/plastic6/images');
const backbone = resolve(root, '../shared/backbones/mobilenet_v2_1.0_224_imagenet/tfjs');
const outFile = process.env.OUT_FILE ? resolve(process.env.OUT_FILE) : join(root, 'bench/results/paper-protocol-plastic6.json');
const work = join(root, '.cache/bench/paper-protocol');

if (!existsSync(data) || !existsSync(backbone)) {
  console.warn(`paper-protocol: skipped — needs ${data} and ${backbone}`);
  process.exit(0);
}

const env = (k: string, d: string) => process.env[k] ?? d;
const seeds = env('SEEDS', '1,2,3,4,5').split(',').map(Number);
const views = Number(env('VIEWS', '3'));
const baseEpochs = Number(env('BASE_EPOCHS', '20'));
const preset = env('PRESET', 'full') as FinetunePreset;
if (!FINETUNE_PRESETS[preset]) throw new Error(`PRESET ${preset} is unknown; use ${Object.keys(FINETUNE_PRESETS).join(' or ')}`);
const recipe = FINETUNE_PRESETS[preset];
const ftEpochs = Number(env('FT_EPOCHS', String(recipe.epochs)));
const quant = env('QUANT', '1') === '1';
const ftViews = Number(env('FT_VIEWS', String(recipe.views)));
const resize = env('RESIZE', 'center-crop') as ResizePolicy;

function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

interface PhaseResult extends TestFigures {
  bestEpoch: number;
  epochsRun: number;
  featureSeconds: number;
  trainSeconds: number;
  totalSeconds: number;
  trainImagesPerSecond: number;
  trainImagesPerCpuSecond: number;
  featureImagesPerSecond: number;
  featureImagesPerCpuSecond: number;
  trainAccuracyLastEpoch: number;
  /** Validation accuracy at the restored epoch (what a recipe is chosen on). */
  valAccuracy: number;
}

function phase(r: TrainResult): PhaseResult {
  const featureImages = r.features.rows;
  const cpu = { features: r.config.timings.featuresCpu ?? 0, train: r.config.timings.trainCpu ?? 0 };
  const m = r.metrics;
  const eps = r.history.epochs;
  const trainImages = eps.reduce((n, e) => n + e.imagesPerSecond * e.seconds, 0);
  const trainSeconds = eps.reduce((n, e) => n + e.seconds, 0);
  return {
    ...testFigures(m),
    bestEpoch: r.history.bestEpoch,
    epochsRun: eps.length,
    featureSeconds: r.config.timings.features ?? 0,
    trainSeconds: r.config.timings.train ?? 0,
    totalSeconds: r.config.timings.total ?? 0,
    trainImagesPerSecond: trainImages / Math.max(1e-9, trainSeconds),
    trainImagesPerCpuSecond: trainImages / Math.max(1e-9, cpu.train),
    featureImagesPerSecond: r.features.fromCache ? 0 : featureImages / Math.max(1e-9, r.config.timings.features ?? 0),
    featureImagesPerCpuSecond: r.features.fromCache ? 0 : featureImages / Math.max(1e-9, cpu.features),
    trainAccuracyLastEpoch: eps[eps.length - 1]?.accuracy ?? 0,
    valAccuracy: eps[r.history.bestEpoch - 1]?.valAccuracy ?? 0,
  };
}

const backend = await initBackend();
let started = new Date().toISOString();
const perSeed: Array<Record<string, unknown>> = [];
let mergedPeakRss = 0;

async function write(done: boolean): Promise<void> {
  const base = perSeed.map((s) => s.baseline as PhaseResult);
  const ft = perSeed.map((s) => s.finetune as PhaseResult).filter(Boolean);
  const summary = (rs: PhaseResult[]) =>
    rs.length
      ? {
          accuracy: meanStd(rs.map((r) => r.accuracy)),
          macroF1: meanStd(rs.map((r) => r.macroF1)),
          trainImagesPerSecond: meanStd(rs.map((r) => r.trainImagesPerSecond)),
          trainImagesPerCpuSecond: meanStd(rs.map((r) => r.trainImagesPerCpuSecond)),
          protocolSeconds: meanStd(rs.map((r) => r.totalSeconds)),
        }
      : null;
  await writeJsonAtomic(outFile, {
    benchmark: 'paper-protocol-plastic6',
    complete: done,
    command: `RESIZE=${resize} SEEDS=${seeds.join(',')} VIEWS=${views} FT_VIEWS=${ftViews} BASE_EPOCHS=${baseEpochs} PRESET=${preset} FT_EPOCHS=${ftEpochs} QUANT=${quant ? 1 : 0}${process.env.OUT_FILE ? ` OUT_FILE=${process.env.OUT_FILE}` : ''} npm run bench -- paper-protocol`,
    started,
    finished: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '', loadAverage1mAtEnd: loadavg()[0], shared: 'CPU shared with other jobs; wall figures are pessimistic, per-CPU-second figures less so' },
    backend,
    settings: {
      inputSize: 224,
      resize,
      backbone,
      baseline: { batchSize: 32, epochs: baseEpochs, patience: 3, lr: 1e-3, dropout: 0.2, views },
      finetune: { preset, ...recipe, epochs: ftEpochs, views: ftViews },
      probe: 'plain linear probe of clean pooled features on the same split (bench/probe.ts), iterations chosen on validation',
      quantization: quant ? 'plastisort quantize --calib all --method auto --seed <split seed>; int8 run in LiteRT' : 'not run (QUANT=0)',
    },
    seeds: perSeed,
    summary: { baseline: summary(base), finetune: summary(ft), paired: pairedSummary(), seedsDone: perSeed.length },
    peakRssMb: Math.max(peakRssMb(), mergedPeakRss),
  });
}

/**
 * The manifest the probe's clean features are extracted with (they do not depend on the split): seed 1's
 * when it exists, so that runs of other seeds in separate processes share one cache with bench/linear-probe.
 */
function probeFeatureManifest(): string {
  const one = join(work, 'split-seed1.json');
  return existsSync(one) ? one : join(work, `split-seed${seeds[0]}.json`);
}

/** Means with 95% t-intervals over the seeds done, and the paired differences fine-tuned − probe / − baseline. */
function pairedSummary(): Record<string, unknown> | null {
  const done = perSeed.filter((s) => s.finetune && s.probe);
  if (!done.length) return null;
  const ft = (s: Record<string, unknown>) => s.finetune as PhaseResult;
  const pr = (s: Record<string, unknown>) => s.probe as ProbeResult;
  const bl = (s: Record<string, unknown>) => s.baseline as PhaseResult;
  const diffs = (f: (s: Record<string, unknown>) => number) => done.map(f);
  const withInt8 = done.filter((s) => s.int8);
  return {
    seeds: done.map((s) => s.seed),
    finetuneAccuracy: meanInterval(diffs((s) => ft(s).accuracy)),
    finetuneMacroF1: meanInterval(diffs((s) => ft(s).macroF1)),
    probeAccuracy: meanInterval(diffs((s) => pr(s).accuracy)),
    probeMacroF1: meanInterval(diffs((s) => pr(s).macroF1)),
    baselineAccuracy: meanInterval(diffs((s) => bl(s).accuracy)),
    baselineMacroF1: meanInterval(diffs((s) => bl(s).macroF1)),
    finetuneMinusProbeAccuracy: meanInterval(diffs((s) => ft(s).accuracy - pr(s).accuracy)),
    finetuneMinusProbeMacroF1: meanInterval(diffs((s) => ft(s).macroF1 - pr(s).macroF1)),
    finetuneMinusBaselineAccuracy: meanInterval(diffs((s) => ft(s).accuracy - bl(s).accuracy)),
    finetuneAboveProbeOnEverySeed: done.every((s) => ft(s).accuracy > pr(s).accuracy && ft(s).macroF1 > pr(s).macroF1),
    ...(withInt8.length
      ? {
          int8DropPp: withInt8.map((s) => ({ seed: s.seed, pp: (s.int8 as { accuracyDropPp: number }).accuracyDropPp })),
          int8WithinHalfPpOnEverySeed: withInt8.length === done.length && withInt8.every((s) => Math.abs((s.int8 as { accuracyDropPp: number }).accuracyDropPp) <= 0.5),
        }
      : {}),
    target: 'fine-tuned ≥ probe + 3 pp (accuracy and macro F1, mean over ≥ 5 seeds), above the probe on every seed, int8 within 0.5 pp of float on every seed, ≤ 15 min per seed',
  };
}

// MERGE=a.json,b.json: combine result files of seeds run in separate processes into OUT_FILE.
if (process.env.MERGE) {
  for (const f of process.env.MERGE.split(',')) {
    const part = JSON.parse(await import('node:fs/promises').then((fs) => fs.readFile(resolve(f), 'utf8')));
    perSeed.push(...(part.seeds as Array<Record<string, unknown>>).map((s) => ({ ...s, process: f })));
    mergedPeakRss = Math.max(mergedPeakRss, part.peakRssMb ?? 0);
    if (part.started < started) started = part.started;
  }
  perSeed.sort((a, b) => (a.seed as number) - (b.seed as number));
  await write(perSeed.every((s) => s.finetune));
  console.log(`merged ${perSeed.length} seeds into ${outFile}`);
  process.exit(0);
}

for (const seed of seeds) {
  const t0 = Date.now();
  const manifestPath = join(work, `split-seed${seed}.json`);
  if (!existsSync(manifestPath)) {
    const { manifest } = await splitDataset({ data, seed, progress: false });
    await writeManifest(manifestPath, manifest);
  }
  const splitSeconds = (Date.now() - t0) / 1000;
  const base = await trainBaseline({
    manifest: manifestPath,
    out: join(work, `baseline-${resize}-seed${seed}`),
    backbone,
    inputSize: 224,
    resize,
    batchSize: 32,
    epochs: baseEpochs,
    patience: 3,
    lr: 1e-3,
    dropout: 0.2,
    views,
    seed,
  });
  const record: Record<string, unknown> = {
    seed,
    splitSeconds,
    testItems: base.metrics.n,
    baseline: phase(base),
  };
  perSeed.push(record);
  await write(false);
  const tp = Date.now();
  record.probe = await sameSplitProbe(manifestPath, seed, { data, backbone, resize, firstManifest: probeFeatureManifest() });
  record.probeSeconds = (Date.now() - tp) / 1000;
  const ftOut = join(work, `finetuned-${resize}-seed${seed}`);
  const ft = await finetuneRun({
    from: join(work, `baseline-${resize}-seed${seed}`),
    out: ftOut,
    preset,
    epochs: ftEpochs,
    views: ftViews,
  });
  record.finetune = phase(ft);
  record.finetuneMinusProbe = {
    accuracyPp: 100 * (ft.metrics.accuracy - (record.probe as ProbeResult).accuracy),
    macroF1Pp: 100 * (ft.metrics.macro.f1 - (record.probe as ProbeResult).macroF1),
  };
  if (quant) {
    const tq = Date.now();
    record.int8 = await int8TestMetrics(ftOut, join(work, `finetuned-${resize}-seed${seed}.tflite`), seed, ft.metrics.accuracy);
    record.quantizeSeconds = (Date.now() - tq) / 1000;
  }
  record.protocolSeconds = (Date.now() - t0) / 1000;
  record.finetuneBeatsBaseline = {
    accuracy: ft.metrics.accuracy > base.metrics.accuracy,
    macroF1: ft.metrics.macro.f1 > base.metrics.macro.f1,
  };
  await write(false);
  const pr = record.probe as ProbeResult;
  console.log(
    `seed ${seed}: baseline ${(base.metrics.accuracy * 100).toFixed(1)}% (F1 ${base.metrics.macro.f1.toFixed(3)}), ` +
      `probe ${(pr.accuracy * 100).toFixed(1)}% (F1 ${pr.macroF1.toFixed(3)}), ` +
      `fine-tuned ${(ft.metrics.accuracy * 100).toFixed(1)}% (F1 ${ft.metrics.macro.f1.toFixed(3)}), ${record.protocolSeconds}s`,
  );
}
await write(true);
console.log(`wrote ${outFile}`);
