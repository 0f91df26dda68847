/**
 * `plastisort quantize RUN`: reads a trained run folder (docs/artifacts.md), picks stratified calibration
 * images from the training split and validation images, quantizes, writes the `.tflite` and its report.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ManifestItem, SplitManifest } from '../data/manifest.ts';
import { manifestInputs, readManifest } from '../data/manifest-io.ts';
import { guardOutFile } from '../util/out-dir.ts';
import { parentManifestPath } from '../train/run-output.ts';
import { loadImageRgb, manifestItemPath, type ResizePolicy } from '../data/images.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { sha256Hex } from '../util/hash.ts';
import { log } from '../util/log.ts';
import { progressBar, type Progress } from '../util/progress.ts';
import { loadRun, recordedManifest, type RunConfig } from '../train/run-folder.ts';
import { quantizeModel, type CalibrationMethod, type QuantizeConfig, type QuantizeReport } from './quantize-model.ts';

function manifestPathOf(runDir: string, path: string): string {
  // Runs record the manifest path as given at training time: absolute, or relative to that working directory.
  if (isAbsolute(path)) return path;
  const fromCwd = resolve(path);
  return existsSync(fromCwd) ? fromCwd : resolve(runDir, path);
}

/** The manifest a run was trained on, as a path to read (a one-line error when config.json records none). */
export function runManifestPath(run: RunConfig, runDir: string): string {
  return manifestPathOf(runDir, recordedManifest(run, runDir).path);
}

function shuffle<T>(items: T[], seed: number): T[] {
  let s = seed >>> 0 || 1;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/**
 * Up to `n` training-split items, balanced over classes (round-robin over per-class shuffles, so a
 * small class contributes all it has and the rest is filled from the others), deterministic in `seed`.
 */
export function selectCalibrationItems(manifest: SplitManifest, n: number, seed: number): ManifestItem[] {
  const perClass = manifest.classes.map((_, c) =>
    shuffle(
      manifest.items.filter((it) => it.split === 'train' && it.label === c).sort((a, b) => (a.path < b.path ? -1 : 1)),
      seed + c * 7919,
    ),
  );
  const out: ManifestItem[] = [];
  for (let round = 0; out.length < n; round++) {
    let added = false;
    for (const list of perClass) {
      if (round < list.length && out.length < n) {
        out.push(list[round]!);
        added = true;
      }
    }
    if (!added) break;
  }
  return out;
}

export async function loadItems(manifest: SplitManifest, items: ManifestItem[], size: number, resize: ResizePolicy, bar?: Progress): Promise<Uint8Array[]> {
  const out: Uint8Array[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await loadImageRgb(manifestItemPath(manifest, items[i]!), size, resize);
      bar?.tick();
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return out;
}

/** What quantizeModel needs to know of a trained run, and the manifest it calibrates with. */
export function quantizeConfigFor(run: RunConfig, manifestSha256: string): QuantizeConfig {
  return { classes: run.classes, inputSize: run.inputSize, floatScaling: run.floatScaling, resize: run.resize, manifestSha256, runId: run.runId };
}

export interface QuantizeRunOptions {
  out: string;
  manifest?: string;
  /** Calibration images from the training split, balanced over classes, or 'all' of them (the CLI default). */
  calib: number | 'all';
  method: CalibrationMethod | 'auto';
  percentile?: number;
  seed: number;
  /** Validation images used to choose the method (default: the whole val split; 0 skips). */
  val?: number;
  compensate?: boolean;
  /** Fold the weights' mean rounding error into the biases (default true; see QuantizeOptions.biasCorrection). */
  biasCorrection?: boolean;
  /** Measure the input offset's effect on val (two extra simulated passes; default true). */
  measureOffset?: boolean;
  /** Keep scale and zero point on convolution biases (default true; see QuantizeOptions.biasQuantParams). */
  biasQuantParams?: boolean;
}

export interface QuantizeRunReport extends QuantizeReport {
  run: string;
  manifest: string;
  manifestSha256: string;
  calibrationPerClass: Record<string, number>;
  backend: string;
  output: string;
  /** SHA-256 of the `.tflite` written to `output`: with its file name, the proof that quantize wrote that file. */
  outputSha256: string;
  loadMs: number;
}

/** Every option and the output path, checked before the run is loaded. */
export function checkQuantizeOptions(runDir: string, opts: QuantizeRunOptions): void {
  if (opts.calib !== 'all' && (!Number.isInteger(opts.calib) || opts.calib < 1 || opts.calib > 100_000)) {
    throw new UserError(`--calib ${opts.calib}: give a whole number of calibration images from 1 to 100000, or all`);
  }
  if (opts.val !== undefined && !(Number.isInteger(opts.val) && opts.val >= 0)) throw new UserError(`--val ${opts.val}: give a whole number of validation images, 0 or more`);
  if (!(Number.isInteger(opts.seed) && opts.seed >= 0 && opts.seed <= 2 ** 31 - 1)) throw new UserError(`--seed ${opts.seed}: give a whole number from 0 to 2147483647`);
  guardOutFile(opts.out, {
    command: 'quantize',
    inputs: [runDir, ...manifestInputs(opts.manifest ?? parentManifestPath(runDir))],
    // A .tflite quantize wrote has its report beside it, naming that very file (and its SHA-256).
    isOwn: (path) => quantizeWrote(path),
  });
  // The report goes beside --out: it may not replace the report of another file or a file of the user's.
  const out = resolve(opts.out);
  const report = reportPathFor(out);
  if (existsSync(report)) {
    const described = reportedOutput(report);
    if (described === undefined || basename(described.output) !== basename(out)) {
      throw new UserError(
        `--out ${opts.out}: its report would replace ${report}, which ${described ? `is the report of ${basename(described.output)}` : 'plastisort quantize did not write'}; choose another --out name (nothing was written)`,
      );
    }
  }
}

/** What a quantize report says of the file it describes and of the run quantized. */
interface ReportedOutput {
  output: string;
  outputSha256?: string;
  /** The run folder quantized (absolute path when it was written) and its id. */
  run?: string;
  runId?: string;
}

/** Undefined when `reportPath` is not a quantize report. */
function reportedOutput(reportPath: string): ReportedOutput | undefined {
  try {
    if (!statSync(reportPath).isFile()) return undefined;
    const r = JSON.parse(readFileSync(reportPath, 'utf8')) as Partial<QuantizeRunReport>;
    if (r.schema !== 'plastisort.quantize-report/1' || typeof r.output !== 'string') return undefined;
    return {
      output: r.output,
      ...(typeof r.outputSha256 === 'string' ? { outputSha256: r.outputSha256 } : {}),
      ...(typeof r.run === 'string' ? { run: r.run } : {}),
      ...(typeof r.runId === 'string' ? { runId: r.runId } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * The quantize report beside `path` when it describes that very file: it names the file (`S/w.tflite`
 * and `S/w` share the report name `S/w.quantize.json`) and, when the report records it, the file's
 * SHA-256 matches. Reports written before `outputSha256` existed are trusted on the file name alone.
 */
export function quantizeReportOf(path: string, bytes?: Uint8Array): ReportedOutput | undefined {
  const described = reportedOutput(reportPathFor(path));
  if (!described || basename(described.output) !== basename(path)) return undefined;
  if (described.outputSha256 === undefined) return described;
  try {
    return sha256Hex(bytes ?? readFileSync(path)) === described.outputSha256 ? described : undefined;
  } catch {
    return undefined;
  }
}

/** Did quantize write the file at `path`? (Its report beside it describes it: quantizeReportOf.) */
export function quantizeWrote(path: string): boolean {
  return quantizeReportOf(path) !== undefined;
}

export async function quantizeRun(runDir: string, opts: QuantizeRunOptions): Promise<QuantizeRunReport> {
  const t0 = performance.now();
  const runDirAbs = resolve(runDir);
  checkQuantizeOptions(runDir, opts);
  const { config: run, model } = await loadRun(runDirAbs);
  const manifestPath = opts.manifest ? resolve(opts.manifest) : runManifestPath(run, runDirAbs);
  const { manifest, sha256 } = await readManifest(manifestPath);
  if (JSON.stringify(manifest.classes) !== JSON.stringify(run.classes)) {
    model.dispose();
    throw new UserError(
      `${manifestPath} lists classes [${manifest.classes.join(', ')}] but run ${runDirAbs} was trained on [${run.classes.join(', ')}]; calibrate with the run's own split manifest (--manifest)`,
    );
  }
  if (run.manifest?.sha256 && run.manifest.sha256 !== sha256) {
    log.warn(`${manifestPath} differs from the manifest the run was trained on (sha256 ${sha256.slice(0, 12)}… vs ${run.manifest.sha256.slice(0, 12)}…); calibration may include images the model never saw as training data`);
  }
  const calibItems = selectCalibrationItems(manifest, opts.calib === 'all' ? Infinity : opts.calib, opts.seed);
  if (calibItems.length === 0) throw new UserError(`${manifestPath} has no training-split images to calibrate with; re-split with a train ratio above 0`);
  const valAll = manifest.items.filter((it) => it.split === 'val');
  const valItems = opts.val === undefined ? valAll : shuffle(valAll, opts.seed + 1).slice(0, opts.val);
  let bar = progressBar('loading calibration images', calibItems.length);
  const calibration = await loadItems(manifest, calibItems, run.inputSize, run.resize, bar);
  bar.stop();
  let validation: { images: Uint8Array[]; labels: number[] } | undefined;
  if (valItems.length > 0) {
    bar = progressBar('loading validation images', valItems.length);
    validation = { images: await loadItems(manifest, valItems, run.inputSize, run.resize, bar), labels: valItems.map((it) => it.label) };
    bar.stop();
  } else if (opts.method === 'auto') {
    log.warn('no validation images: --method auto falls back to minmax');
  }
  const loadMs = performance.now() - t0;
  const bars = new Map<string, { bar: Progress; done: number }>();
  const stopBars = () => {
    for (const b of bars.values()) b.bar.stop();
  };
  const result = await quantizeModel(
    model,
    quantizeConfigFor(run, sha256),
    calibration,
    {
      method: opts.method,
      ...(opts.percentile !== undefined ? { percentile: opts.percentile } : {}),
      ...(validation ? { validation } : {}),
      compensateInputOffset: opts.compensate !== false,
      biasCorrection: opts.biasCorrection !== false,
      measureInputOffset: opts.measureOffset !== false,
      biasQuantParams: opts.biasQuantParams !== false,
      seed: opts.seed,
      onProgress: (phase, done, total) => {
        let b = bars.get(phase);
        if (!b) {
          stopBars();
          b = { bar: progressBar(phase, total), done: 0 };
          bars.set(phase, b);
        }
        b.bar.tick(done - b.done);
        b.done = done;
      },
    },
  );
  stopBars();
  model.dispose();
  const out = resolve(opts.out);
  const calibrationPerClass: Record<string, number> = Object.fromEntries(run.classes.map((c) => [c, 0]));
  for (const it of calibItems) calibrationPerClass[it.class]!++;
  const report: QuantizeRunReport = {
    ...result.report,
    run: runDirAbs,
    manifest: manifestPath,
    manifestSha256: sha256,
    calibrationPerClass,
    backend: tf.getBackend(),
    output: out,
    outputSha256: sha256Hex(result.tflite),
    loadMs,
  };
  report.timings.totalMs = performance.now() - t0;
  await writeFileAtomic(out, result.tflite);
  await writeJsonAtomic(reportPathFor(out), report);
  return report;
}

/**
 * `model.tflite` → `model.quantize.json` (any other name keeps its extension: `m.bin` → `m.bin.quantize.json`).
 * `S/w` and `S/w.tflite` share a report name, so the report names the file it describes (see quantizeWrote).
 */
export function reportPathFor(tflitePath: string): string {
  return tflitePath.replace(/\.tflite$/i, '') + '.quantize.json';
}
