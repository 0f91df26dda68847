/**
 * `plastisort quantize RUN`: reads a trained run folder (docs/artifacts.md), picks stratified calibration
 * images from the training split and validation images, quantizes, writes the `.tflite` and its report.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ManifestItem, SplitManifest } from '../data/manifest.ts';
import { readManifest } from '../data/manifest-io.ts';
import { loadImageRgb, manifestItemPath, type ResizePolicy } from '../data/images.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { progressBar, type Progress } from '../util/progress.ts';
import { quantizeModel, type CalibrationMethod, type FloatScaling, type QuantizeReport } from './quantize.ts';

/** The parts of a run's config.json that quantization needs (RunConfig in host/train/run.ts). */
export interface RunInfo {
  dir: string;
  runId: string;
  classes: string[];
  inputSize: number;
  resize: ResizePolicy;
  floatScaling: FloatScaling;
  manifestPath?: string;
  manifestSha256?: string;
}

function pick(obj: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) {
    const path = k.split('.');
    let v: unknown = obj;
    for (const p of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

/** Reads `RUN/config.json` (tolerant of where the trainer nests the manifest fields). */
export async function readRunInfo(runDir: string): Promise<RunInfo> {
  const dir = resolve(runDir);
  const cfgPath = join(dir, 'config.json');
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(cfgPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${cfgPath}: ${code === 'ENOENT' ? 'not found' : 'cannot be read as JSON'}; RUN must be a folder written by plastisort train or finetune`);
  }
  const bad = (what: string) => new UserError(`${cfgPath}: ${what}; re-create the run with plastisort train`);
  const classes = pick(raw, 'classes');
  if (!Array.isArray(classes) || classes.length < 2 || !classes.every((c) => typeof c === 'string')) throw bad('"classes" is missing');
  const inputSize = Number(pick(raw, 'inputSize', 'input.size', 'model.inputSize'));
  if (!Number.isInteger(inputSize) || inputSize < 1) throw bad('"inputSize" is missing');
  const fs = pick(raw, 'floatScaling', 'backbone.floatScaling') as FloatScaling | undefined;
  if (!fs || typeof fs.scale !== 'number' || typeof fs.offset !== 'number') throw bad('"floatScaling" {scale, offset} is missing');
  const resize = String(pick(raw, 'resize', 'data.resize') ?? 'squash');
  if (resize !== 'squash' && resize !== 'center-crop') throw bad(`"resize" is ${JSON.stringify(resize)}`);
  const mp = pick(raw, 'manifestPath', 'manifest.path', 'manifest');
  const manifestPath = typeof mp === 'string' ? resolve(dir, mp) : undefined;
  const ms = pick(raw, 'manifestSha256', 'manifest.sha256');
  const id = pick(raw, 'runId', 'id', 'name');
  return {
    dir,
    runId: typeof id === 'string' ? id : basename(dir),
    classes: classes as string[],
    inputSize,
    resize,
    floatScaling: { scale: fs.scale, offset: fs.offset },
    ...(manifestPath ? { manifestPath } : {}),
    ...(typeof ms === 'string' ? { manifestSha256: ms } : {}),
  };
}

/** Loads `RUN/model/model.json` and its weight shards from disk (no tfjs-node file handler needed). */
export async function loadRunModel(runDir: string): Promise<tf.LayersModel> {
  const modelPath = join(resolve(runDir), 'model', 'model.json');
  let json: { modelTopology: object; weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }> };
  try {
    json = JSON.parse(await readFile(modelPath, 'utf8'));
  } catch (e) {
    throw new UserError(`${modelPath}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); RUN must hold the trained model in tfjs format`);
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  for (const group of json.weightsManifest ?? []) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      try {
        parts.push(await readFile(join(dirname(modelPath), p)));
      } catch {
        throw new UserError(`${join(dirname(modelPath), p)}: weight shard missing; the run folder is incomplete, re-run training`);
      }
    }
  }
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const data = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    data.set(p, off);
    off += p.byteLength;
  }
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: data.buffer }));
  } catch (e) {
    throw new UserError(`${modelPath}: tfjs cannot load the model (${(e as Error).message}); re-run training`);
  }
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

export interface QuantizeRunOptions {
  out: string;
  manifest?: string;
  calib: number;
  method: CalibrationMethod | 'auto';
  percentile?: number;
  seed: number;
  /** Validation images used to choose the method (default: the whole val split; 0 skips). */
  val?: number;
  compensate?: boolean;
}

export interface QuantizeRunReport extends QuantizeReport {
  run: string;
  manifest: string;
  manifestSha256: string;
  calibrationPerClass: Record<string, number>;
  backend: string;
  output: string;
  loadMs: number;
}

export async function quantizeRun(runDir: string, opts: QuantizeRunOptions): Promise<QuantizeRunReport> {
  const t0 = performance.now();
  const run = await readRunInfo(runDir);
  const manifestPath = opts.manifest ? resolve(opts.manifest) : run.manifestPath;
  if (!manifestPath) throw new UserError(`${join(run.dir, 'config.json')} names no manifest; pass --manifest FILE (the split the run was trained on)`);
  const { manifest, sha256 } = await readManifest(manifestPath);
  if (JSON.stringify(manifest.classes) !== JSON.stringify(run.classes)) {
    throw new UserError(
      `${manifestPath} lists classes [${manifest.classes.join(', ')}] but run ${run.dir} was trained on [${run.classes.join(', ')}]; calibrate with the run's own split manifest (--manifest)`,
    );
  }
  if (run.manifestSha256 && run.manifestSha256 !== sha256) {
    log.warn(`${manifestPath} differs from the manifest the run was trained on (sha256 ${sha256.slice(0, 12)}… vs ${run.manifestSha256.slice(0, 12)}…); calibration may include images the model never saw as training data`);
  }
  if (!Number.isInteger(opts.calib) || opts.calib < 1) throw new UserError(`--calib ${opts.calib}: give a positive number of calibration images`);
  const model = await loadRunModel(run.dir);
  const calibItems = selectCalibrationItems(manifest, opts.calib, opts.seed);
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
    { classes: run.classes, inputSize: run.inputSize, floatScaling: run.floatScaling, resize: run.resize, manifestSha256: sha256, runId: run.runId },
    calibration,
    {
      method: opts.method,
      ...(opts.percentile !== undefined ? { percentile: opts.percentile } : {}),
      ...(validation ? { validation } : {}),
      compensateInputOffset: opts.compensate !== false,
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
    run: run.dir,
    manifest: manifestPath,
    manifestSha256: sha256,
    calibrationPerClass,
    backend: tf.getBackend(),
    output: out,
    loadMs,
  };
  report.timings.totalMs = performance.now() - t0;
  await writeFileAtomic(out, result.tflite);
  await writeJsonAtomic(reportPathFor(out), report);
  return report;
}

/** `model.tflite` → `model.quantize.json`. */
export function reportPathFor(tflitePath: string): string {
  return tflitePath.replace(/\.tflite$/i, '') + '.quantize.json';
}
