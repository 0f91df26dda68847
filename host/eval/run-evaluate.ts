/**
 * What `plastisort evaluate` and `plastisort compare` do, as library calls the pipeline can use too.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { manifestInputs, readManifest, verifyManifestFiles } from '../data/manifest-io.ts';
import { overlapWith, readRecordedManifest, recordedManifestPath } from '../data/manifest-overlap.ts';
import { guardOutDir, holdsAll, prepareOutDir, type OutGuard } from '../util/out-dir.ts';
import { SPLITS, type SplitManifest, type SplitName } from '../data/manifest.ts';
import { createRunPredictor, readRunConfig, type RunConfig } from '../train/run-folder.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import {
  evaluatePredictor,
  imageChanges,
  predictionAgreement,
  readPredictionsFile,
  writeEvaluation,
  type EvaluationResult,
  type ImageChanges,
  type Prediction,
  type WrittenFiles,
} from './evaluate.ts';
import { compareTable, confusionChangesTable, intervalLine } from './markdown.ts';
import { confusionChanges, metricsProblem, type ConfusionChange, type EvalMetrics, type ManifestOverlap } from '../shared/metrics.ts';
import type { Predictor } from '../shared/predictor.ts';
import { loadTflitePredictor } from './tflite-predictor.ts';
import { checkWholeNumber } from '../util/whole-number.ts';

export interface RunEvaluateOptions {
  /** Run folder or `.tflite` file. */
  target: string;
  /** Split manifest; default: the one recorded in the run's config.json. */
  manifest?: string;
  split?: string;
  /** Output folder; default: the run folder, or `<name>-eval/` beside a `.tflite`. */
  out?: string;
  /** Float run to measure top-1 agreement against (for a `.tflite`); default: the run named in its metadata. */
  floatRun?: string;
  batchSize?: number;
  bootstrap?: number;
  seed?: number;
  limit?: number;
  /** Skip re-hashing the split's files against the manifest. */
  skipVerify?: boolean;
  /** Most misclassified images drawn in errors.png (default ERROR_GALLERY_MAX; 0: none). */
  errors?: number;
}

export interface RunEvaluateResult extends EvaluationResult {
  files: WrittenFiles;
  outDir: string;
}

function isTflite(target: string): boolean {
  return extname(target).toLowerCase() === '.tflite';
}

function parseSplit(split: string | undefined): SplitName {
  const s = (split ?? 'test') as SplitName;
  if (!SPLITS.includes(s)) throw new UserError(`--split "${split}" is not a split; use one of ${SPLITS.join(', ')}`);
  return s;
}

/** Every numeric option, checked before a model is loaded. */
function checkEvaluateOptions(o: RunEvaluateOptions): void {
  checkWholeNumber('--batch-size', o.batchSize, 1, 4096);
  checkWholeNumber('--bootstrap', o.bootstrap, 0, 1_000_000);
  checkWholeNumber('--seed', o.seed, 0, 2 ** 32 - 1);
  checkWholeNumber('--limit', o.limit, 1, Number.MAX_SAFE_INTEGER);
  checkWholeNumber('--errors', o.errors, 0, 100_000);
}

/** The float run a `.tflite` came from, found through its metadata's runId when not given. */
function findFloatRun(tflitePath: string, runId: string | undefined): string | undefined {
  if (!runId) return undefined;
  const candidates = [resolve(runId), join(dirname(resolve(tflitePath)), runId), resolve('runs', runId)];
  return candidates.find((c) => existsSync(join(c, 'config.json')));
}

/**
 * The manifest to evaluate on: --manifest, else the one recorded in the run. On another manifest than the
 * run was trained on (another file, or the same file re-split), counts by pixel SHA-256 how many of the
 * images to be evaluated were training or validation images of the run's own manifest, when that is still
 * readable unchanged; the count goes into the warning and into metrics.json `overlap`.
 */
async function loadManifestFor(
  manifestArg: string | undefined,
  config: RunConfig | undefined,
  target: string,
  runDir: string | undefined,
  split: SplitName,
  limit: number | undefined,
) {
  const path = manifestArg ?? (config?.manifest ? recordedManifestPath(runDir, config.manifest.path) : undefined);
  if (!path) {
    throw new UserError(`${target}: no manifest recorded for this model; pass --manifest FILE (the split it was trained on)`);
  }
  const { manifest, sha256 } = await readManifest(path);
  let overlap: ManifestOverlap | undefined;
  if (config && config.manifest?.sha256 !== sha256) {
    const own = await readRecordedManifest(config.manifest, runDir);
    let items = manifest.items.filter((it) => it.split === split);
    if (limit !== undefined) items = items.slice(0, Math.max(1, limit));
    if ('manifest' in own) {
      const o = overlapWith(own.manifest, items);
      overlap = { checked: true, manifest: own.path, trainImages: o.trainImages, valImages: o.valImages };
      if (o.trainImages + o.valImages > 0) {
        log.warn(
          `${path} is not the manifest ${target} was trained on: ${o.trainImages} of its ${o.n} ${split} images were training images ` +
            `and ${o.valImages} validation images of ${own.path} (same pixels); these figures overstate the model, evaluate with ${own.path}`,
        );
      } else {
        log.info(
          `note: ${path} is not the manifest ${target} was trained on, but none of its ${o.n} ${split} images was a training or validation image of ${own.path}`,
        );
      }
    } else {
      overlap = { checked: false, manifest: own.path, reason: own.problem };
      log.warn(
        `${path} is not the manifest ${target} was trained on, and that one (${own.path}) is ${own.problem === 'missing' ? 'missing' : 'changed since training'}, ` +
          `so overlap of these ${split} images with its training images could not be checked; evaluate with the manifest ${target} was trained on`,
      );
    }
  }
  return { path, manifest, sha256, overlap };
}

async function floatPredictionsFor(
  floatRun: string,
  manifest: SplitManifest,
  split: SplitName,
  sha256: string,
  opts: RunEvaluateOptions,
): Promise<Prediction[]> {
  const cached = await readPredictionsFile(join(floatRun, 'predictions.json'));
  if (cached && cached.split === split && cached.manifestSha256 === sha256) {
    const want = new Set(manifest.items.filter((it) => it.split === split).map((it) => it.path));
    if (cached.items.length >= Math.min(want.size, opts.limit ?? Infinity) && cached.items.every((p) => want.has(p.path))) {
      log.info(`using the float predictions saved in ${join(floatRun, 'predictions.json')}`);
      return cached.items;
    }
  }
  const predictor = await createRunPredictor(floatRun);
  try {
    const r = await evaluatePredictor(predictor, manifest, split, {
      batchSize: opts.batchSize,
      bootstrap: 0,
      limit: opts.limit,
      label: 'float reference',
    });
    return r.predictions;
  } finally {
    await predictor.dispose?.();
  }
}

/** evaluate writes its files into a folder of its own or into the run folder it scores. */
const EVALUATE_OUTPUT: OutGuard = {
  command: 'evaluate',
  writesInto: ['train', 'finetune'],
  legacy: (dir) => holdsAll('metrics.json')(dir) || holdsAll('config.json', 'model')(dir),
};

export async function runEvaluate(opts: RunEvaluateOptions): Promise<RunEvaluateResult> {
  const split = parseSplit(opts.split);
  checkEvaluateOptions(opts);
  const target = opts.target;
  if (!existsSync(target)) throw new UserError(`${target}: no such run folder or .tflite file; check the path`);
  const tflite = isTflite(target);
  if (!tflite && !statSync(target).isDirectory()) {
    throw new UserError(`${target}: neither a run folder nor a .tflite file; pass the folder written by plastisort train or a .tflite`);
  }
  const outDir = opts.out ?? (tflite ? join(dirname(target), `${basename(target, extname(target))}-eval`) : target);
  const outGuard = { ...EVALUATE_OUTPUT, inputs: [...manifestInputs(opts.manifest), tflite ? target : undefined, opts.floatRun] };
  if (!tflite) await readRunConfig(target); // "not a run folder" before any complaint about --out
  guardOutDir(outDir, outGuard);

  let predictor: Predictor;
  let config: RunConfig | undefined;
  let floatRun = opts.floatRun;
  let source: EvalMetrics['source'];
  if (tflite) {
    // a bad --float-run should fail before the model is compiled
    if (floatRun) config = await readRunConfig(floatRun);
    const p = await loadTflitePredictor(target);
    predictor = p;
    if (!floatRun) {
      floatRun = findFloatRun(target, p.metadata?.runId);
      if (floatRun) config = await readRunConfig(floatRun);
    }
    source = { kind: 'tflite', path: target, sha256: p.sha256, ...(p.metadata?.runId ? { runId: p.metadata.runId } : {}) };
  } else {
    config = await readRunConfig(target);
    predictor = await createRunPredictor(target);
    source = { kind: 'run', path: target, runId: config.runId };
  }

  try {
    const m = await loadManifestFor(opts.manifest, config, target, tflite ? floatRun : target, split, opts.limit);
    const items = m.manifest.items.filter((it) => it.split === split);
    if (!opts.skipVerify) await verifyManifestFiles({ ...m.manifest, items });
    const result = await evaluatePredictor(predictor, m.manifest, split, {
      batchSize: opts.batchSize,
      bootstrap: opts.bootstrap,
      seed: opts.seed,
      limit: opts.limit,
      manifestPath: m.path,
      manifestSha256: m.sha256,
      source,
      label: `evaluate ${basename(target)}`,
    });
    if (m.overlap) result.metrics.overlap = m.overlap;
    if (tflite && floatRun) {
      const floatPreds = await floatPredictionsFor(floatRun, m.manifest, split, m.sha256, opts);
      result.metrics.agreement = predictionAgreement(result.predictions, floatPreds, `float run ${floatRun}`);
    } else if (tflite) {
      log.info('no float run given or found (--float-run RUN): top-1 agreement with the float model not measured');
    }
    await prepareOutDir(outDir, { ...outGuard, inputs: [...outGuard.inputs, m.path, m.manifest.root] });
    const what = tflite ? `${basename(target)} (int8, LiteRT)` : `${basename(resolve(target))} (${config?.stage ?? 'float'})`;
    const files = await writeEvaluation(outDir, result, {
      title: `${what}: ${split} split`,
      historyFrom: tflite ? [] : historyChain(target, config),
      errors: { manifest: m.manifest, ...(opts.errors === undefined ? {} : { max: opts.errors }) },
    });
    return { ...result, files, outDir };
  } finally {
    await predictor.dispose?.();
  }
}

/** A fine-tuned run's curves include its parent baseline's, so one figure shows both phases. */
function historyChain(runDir: string, config: RunConfig | undefined): string[] {
  const parent = config?.parent?.path;
  return parent && existsSync(join(parent, 'history.json')) ? [parent, runDir] : [runDir];
}

/** Reads EvalMetrics from a metrics.json, or from the metrics.json inside a run or evaluation folder. */
export async function loadMetrics(target: string): Promise<{ path: string; metrics: EvalMetrics; label: string }> {
  const path = existsSync(target) && statSync(target).isDirectory() ? join(target, 'metrics.json') : target;
  if (!existsSync(path)) {
    throw new UserError(`${path}: not found; run plastisort evaluate ${target} first`);
  }
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message}); re-run plastisort evaluate`);
  }
  const problem = metricsProblem(value);
  if (problem) throw new UserError(`${path}: not a metrics file (${problem}); re-run plastisort evaluate`);
  const dir = path === target ? dirname(path) : target;
  let label = basename(resolve(dir));
  try {
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { stage?: string };
    if (cfg.stage) label = `${cfg.stage} (${label})`;
  } catch {
    // not a run folder: the folder name is the label
  }
  return { path, metrics: value as EvalMetrics, label };
}

export interface CompareResult {
  a: { path: string; label: string; metrics: EvalMetrics };
  b: { path: string; label: string; metrics: EvalMetrics };
  changes: ConfusionChange[];
  /** Image by image, when both evaluations have their predictions.json beside metrics.json. */
  images?: ImageChanges;
  /** Whether both scored the same images: by path when both predictions.json exist, else by count and --limit. */
  imageSets: ImageSets;
  /** What differs between the two evaluations: their split, their manifest (by SHA-256), the images they scored. */
  differs: ('split' | 'manifest' | 'images')[];
  /** The warnings printed (one line each), e.g. that the two did not score the same images. */
  warnings: string[];
  /** The side-by-side table, interval lines and the confusion pairs that changed most, as Markdown. */
  text: string;
}

export interface ImageSets {
  a: number;
  b: number;
  /** Images in both (by path), when both evaluations have their predictions.json. */
  common?: number;
  same: boolean;
}

function sameImages(a: EvalMetrics, b: EvalMetrics, images: ImageChanges | undefined): ImageSets {
  if (images) return { a: a.n, b: b.n, common: images.common, same: images.common === a.n && images.common === b.n };
  // without the predictions, only a count or a --limit that differs tells
  const cut = (m: EvalMetrics) => m.limit !== undefined && m.n < (m.splitImages ?? Infinity);
  return { a: a.n, b: b.n, same: a.n === b.n && !cut(a) && !cut(b) };
}

export async function runCompare(a: string, b: string, opts: { top?: number; labelA?: string; labelB?: string } = {}): Promise<CompareResult> {
  const A = await loadMetrics(a);
  const B = await loadMetrics(b);
  const labelA = opts.labelA ?? A.label;
  const labelB = opts.labelB ?? B.label;
  if (A.metrics.classes.join('\u0000') !== B.metrics.classes.join('\u0000')) {
    throw new UserError(
      `${A.path} and ${B.path} cover different class lists ([${A.metrics.classes.join(', ')}] vs [${B.metrics.classes.join(', ')}]); compare runs trained on the same manifest`,
    );
  }
  const predsA = await readPredictionsFile(join(dirname(A.path), 'predictions.json'));
  const predsB = await readPredictionsFile(join(dirname(B.path), 'predictions.json'));
  const images = predsA && predsB ? imageChanges(predsA.items, predsB.items) : undefined;
  const imageSets = sameImages(A.metrics, B.metrics, images);
  // What differs between the two evaluations, named in one warning line.
  const differs: CompareResult['differs'] = [];
  const parts: string[] = [];
  const both = (f: (m: EvalMetrics) => string) => `${labelA}: ${f(A.metrics)}, ${labelB}: ${f(B.metrics)}`;
  if (A.metrics.split !== B.metrics.split) {
    differs.push('split');
    parts.push(`split (${both((m) => m.split ?? 'not recorded')})`);
  }
  const manifestOf = (m: EvalMetrics) => (m.manifest ? `${m.manifest.path}${m.manifest.sha256 ? ` ${m.manifest.sha256.slice(0, 12)}` : ''}` : 'not recorded');
  const sameManifest =
    A.metrics.manifest?.sha256 && B.metrics.manifest?.sha256
      ? A.metrics.manifest.sha256 === B.metrics.manifest.sha256
      : A.metrics.manifest?.path === B.metrics.manifest?.path && A.metrics.manifest?.sha256 === B.metrics.manifest?.sha256;
  if (!sameManifest) {
    differs.push('manifest');
    parts.push(`manifest (${both(manifestOf)})`);
  }
  if (!imageSets.same) {
    differs.push('images');
    const side = (m: EvalMetrics) => `${m.n}${m.limit !== undefined ? ` (--limit ${m.limit} of ${m.splitImages ?? '?'})` : ''}`;
    const common = imageSets.common === undefined ? 'which in common unknown (no predictions.json)' : `${imageSets.common} in common`;
    parts.push(`images scored (${both(side)}, ${common})`);
  }
  const warnings: string[] = [];
  if (parts.length > 0) {
    const list = parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
    warnings.push(
      `the two evaluations differ in ${list}; the comparison is only indicative, evaluate both on the same split of the same manifest without --limit`,
    );
  }
  for (const w of warnings) log.warn(w);
  const splits = A.metrics.split === B.metrics.split ? `${A.metrics.split ?? '?'} split` : `${A.metrics.split ?? '?'} vs ${B.metrics.split ?? '?'} split`;
  const top = opts.top ?? 10;
  const lines = [
    `## ${labelA} vs ${labelB} (${splits}, ${A.metrics.n} vs ${B.metrics.n} images)`,
    '',
    compareTable(A.metrics, B.metrics, { labelA, labelB }),
  ];
  for (const [label, m] of [[labelA, A.metrics], [labelB, B.metrics]] as const) {
    const ci = intervalLine(m);
    if (ci) lines.push(`- ${label}: ${ci}`);
  }
  lines.push('', `### Confusion pairs that changed most (true → predicted, counts)`, '');
  lines.push(confusionChangesTable(A.metrics, B.metrics, { labelA, labelB, limit: top }));
  if (images && images.common > 0) {
    lines.push(
      '',
      `### Misclassified images (${images.common} in both evaluations)`,
      '',
      '| | images |',
      '|---|---|',
      `| wrong in both | ${images.both.length} (${images.sameClass} as the same class) |`,
      `| wrong in ${labelA} only (fixed by ${labelB}) | ${images.fixed.length} |`,
      `| wrong in ${labelB} only | ${images.broken.length} |`,
    );
  }
  return {
    a: { path: A.path, label: labelA, metrics: A.metrics },
    b: { path: B.path, label: labelB, metrics: B.metrics },
    changes: confusionChanges(A.metrics, B.metrics),
    ...(images ? { images } : {}),
    imageSets,
    differs,
    warnings,
    text: lines.join('\n'),
  };
}
