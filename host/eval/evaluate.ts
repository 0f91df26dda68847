/**
 * Runs a Predictor over one split of a manifest and scores it. Shared by `plastisort evaluate` (float
 * runs and `.tflite` files), the pipeline and HIL (device predictions are scored with computeMetrics on
 * the same items).
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadImageRgb, manifestItemPath } from '../data/images.ts';
import type { ManifestItem, SplitManifest, SplitName } from '../data/manifest.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { progressBar } from '../util/progress.ts';
import { metricsMarkdown } from './markdown.ts';
import { agreement, argmax, computeMetrics, type EvalMetrics, type MetricsSource } from '../shared/metrics.ts';
import { normaliseHistory, renderConfusion, renderTrainingCurves, writeChartFiles } from './plots.ts';
import { renderErrorGallery } from './error-gallery.ts';
import type { Predictor } from '../shared/predictor.ts';

export interface Prediction {
  /** Manifest item path (relative to the manifest root). */
  path: string;
  /** True class index. */
  label: number;
  /** Predicted class index (argmax of scores). */
  predicted: number;
  /** Class probabilities as returned by the predictor. */
  scores: number[];
}

export const PREDICTIONS_SCHEMA = 'plastisort.predictions/1' as const;

/** `predictions.json`: every item's scores, so later stages can compare predictors without re-running them. */
export interface PredictionsFile {
  schema: typeof PREDICTIONS_SCHEMA;
  classes: string[];
  split: string;
  manifestSha256?: string;
  source?: MetricsSource;
  items: Prediction[];
}

export interface EvaluateOptions {
  /** Images per predict() call; default 16. */
  batchSize?: number;
  /** Bootstrap resamples for the intervals (default 1000) and their seed (default 0). */
  bootstrap?: number;
  seed?: number;
  /** Progress bar label; default 'evaluate'. */
  label?: string;
  /** Recorded in the metrics. */
  manifestPath?: string;
  manifestSha256?: string;
  source?: MetricsSource;
  /** Evaluate only the first N items of the split (for smoke tests). */
  limit?: number;
}

export interface EvaluationResult {
  metrics: EvalMetrics;
  predictions: Prediction[];
}

/** Refuses a predictor whose classes are not the manifest's, in the same order. */
export function checkSameClasses(modelClasses: readonly string[], manifestClasses: readonly string[], what: string): void {
  const same = modelClasses.length === manifestClasses.length && modelClasses.every((c, i) => c === manifestClasses[i]);
  if (!same) {
    throw new UserError(
      `${what} predicts classes [${modelClasses.join(', ')}] but the manifest has [${manifestClasses.join(', ')}]; ` +
        'evaluate with the manifest the model was trained on',
    );
  }
}

export function splitItems(manifest: SplitManifest, split: SplitName, manifestName = 'the manifest'): ManifestItem[] {
  const items = manifest.items.filter((it) => it.split === split);
  if (items.length === 0) {
    throw new UserError(`${manifestName} has no items in split "${split}"; choose another --split or re-split with a larger ratio`);
  }
  return items;
}

export async function evaluatePredictor(
  predictor: Predictor,
  manifest: SplitManifest,
  split: SplitName,
  opts: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const what = opts.source?.path ?? 'the model';
  checkSameClasses(predictor.classes, manifest.classes, what);
  const all = splitItems(manifest, split, opts.manifestPath);
  const items = opts.limit !== undefined ? all.slice(0, Math.max(1, opts.limit)) : all;
  const batchSize = Math.max(1, opts.batchSize ?? 16);
  const { inputSize, resize } = predictor;

  const load = (batch: ManifestItem[]) =>
    Promise.all(batch.map((it) => loadImageRgb(manifestItemPath(manifest, it), inputSize, resize)));

  const predictions: Prediction[] = [];
  const bar = progressBar(opts.label ?? 'evaluate', items.length);
  try {
    // Decode the next batch while the predictor works on the current one.
    let pending = load(items.slice(0, batchSize));
    for (let start = 0; start < items.length; start += batchSize) {
      const batch = items.slice(start, start + batchSize);
      const images = await pending;
      if (start + batchSize < items.length) {
        pending = load(items.slice(start + batchSize, start + 2 * batchSize));
        pending.catch(() => {}); // surfaced when awaited
      }
      const scores = await predictor.predict(images);
      if (scores.length !== batch.length) {
        throw new Error(`predictor returned ${scores.length} results for ${batch.length} images`);
      }
      batch.forEach((it, i) => {
        const s = scores[i]!;
        if (s.length !== manifest.classes.length) {
          throw new Error(`predictor returned ${s.length} scores for ${manifest.classes.length} classes`);
        }
        predictions.push({ path: it.path, label: it.label, predicted: argmax(s), scores: Array.from(s) });
      });
      bar.tick(batch.length);
    }
  } finally {
    bar.stop();
  }

  const metrics = computeMetrics(
    predictions.map((p) => p.label),
    predictions.map((p) => p.predicted),
    manifest.classes,
    { bootstrap: opts.bootstrap, seed: opts.seed },
  );
  metrics.split = split;
  if (opts.limit !== undefined) {
    metrics.limit = opts.limit;
    metrics.splitImages = all.length;
  }
  if (opts.manifestPath) {
    metrics.manifest = { path: opts.manifestPath, ...(opts.manifestSha256 ? { sha256: opts.manifestSha256 } : {}) };
  }
  if (opts.source) metrics.source = opts.source;
  return { metrics, predictions };
}

/**
 * Top-1 agreement of two prediction lists over the items they share (matched by path). Throws when
 * they share none, so a mismatch of manifests cannot pass as 0% agreement.
 */
export function predictionAgreement(a: readonly Prediction[], b: readonly Prediction[], reference: string) {
  const byPath = new Map(b.map((p) => [p.path, p.predicted]));
  const pa: number[] = [];
  const pb: number[] = [];
  for (const p of a) {
    const other = byPath.get(p.path);
    if (other !== undefined) {
      pa.push(p.predicted);
      pb.push(other);
    }
  }
  if (pa.length === 0) throw new UserError(`${reference}: no image in common with the evaluated split; use the same manifest`);
  return { reference, n: pa.length, top1: agreement(pa, pb) };
}

/** Which images two evaluations get wrong, over the images they share (matched by path). */
export interface ImageChanges {
  /** Images in both evaluations. */
  common: number;
  /** Misclassified by both; `sameClass` of them as the same wrong class. */
  both: string[];
  sameClass: number;
  /** Wrong in A and right in B, and the reverse. */
  fixed: string[];
  broken: string[];
}

export function imageChanges(a: readonly Prediction[], b: readonly Prediction[]): ImageChanges {
  const byPath = new Map(b.map((p) => [p.path, p]));
  const r: ImageChanges = { common: 0, both: [], sameClass: 0, fixed: [], broken: [] };
  for (const pa of a) {
    const pb = byPath.get(pa.path);
    if (!pb) continue;
    r.common++;
    const wrongA = pa.predicted !== pa.label;
    const wrongB = pb.predicted !== pb.label;
    if (wrongA && wrongB) {
      r.both.push(pa.path);
      if (pa.predicted === pb.predicted) r.sameClass++;
    } else if (wrongA) r.fixed.push(pa.path);
    else if (wrongB) r.broken.push(pa.path);
  }
  return r;
}

export async function readPredictionsFile(path: string): Promise<PredictionsFile | undefined> {
  if (!existsSync(path)) return undefined;
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as PredictionsFile;
    return v.schema === PREDICTIONS_SCHEMA && Array.isArray(v.items) ? v : undefined;
  } catch {
    return undefined;
  }
}

export interface WriteOptions {
  /** Heading of metrics.md and the confusion plot. */
  title?: string;
  /** A run folder whose history.json is drawn as training curves next to the metrics. */
  historyFrom?: string[];
  /** Draw the misclassified images (`errors.png`) from this manifest, at most `max` of them (0: none). */
  errors?: { manifest: SplitManifest; max?: number };
}

export interface WrittenFiles {
  metrics: string;
  markdown: string;
  predictions: string;
  confusion: { svg: string; png: string };
  curves?: { svg: string; png: string };
  /** errors.png, when an image was misclassified and a manifest was given. */
  errors?: string;
}

/**
 * Writes `metrics.json`, `metrics.md`, `predictions.json`, `confusion.svg/.png` (and
 * `training-curves.svg/.png` when history files are given) into `outDir`, each atomically.
 */
export async function writeEvaluation(outDir: string, result: EvaluationResult, opts: WriteOptions = {}): Promise<WrittenFiles> {
  const { metrics, predictions } = result;
  const title = opts.title ?? `Evaluation on the ${metrics.split ?? ''} split`.replace('  ', ' ');
  const files: WrittenFiles = {
    metrics: join(outDir, 'metrics.json'),
    markdown: join(outDir, 'metrics.md'),
    predictions: join(outDir, 'predictions.json'),
    confusion: { svg: '', png: '' },
  };
  const predFile: PredictionsFile = {
    schema: PREDICTIONS_SCHEMA,
    classes: metrics.classes,
    split: metrics.split ?? '',
    ...(metrics.manifest?.sha256 ? { manifestSha256: metrics.manifest.sha256 } : {}),
    ...(metrics.source ? { source: metrics.source } : {}),
    items: predictions,
  };
  await writeJsonAtomic(files.predictions, predFile);
  files.confusion = await writeChartFiles(await renderConfusion(metrics, { title }), join(outDir, 'confusion'));
  const phases = [];
  for (const runDir of opts.historyFrom ?? []) {
    const p = join(runDir, 'history.json');
    if (!existsSync(p)) continue;
    try {
      const raw = JSON.parse(await readFile(p, 'utf8')) as Record<string, unknown>;
      const cfg = await readFile(join(runDir, 'config.json'), 'utf8')
        .then((s) => JSON.parse(s) as { stage?: string })
        .catch(() => ({}) as { stage?: string });
      phases.push({ phase: cfg.stage ?? (typeof raw.stage === 'string' ? raw.stage : runDir), history: normaliseHistory(raw) });
    } catch {
      // a malformed history only costs the curves, not the evaluation
    }
  }
  if (phases.some((p) => p.history.epochs.length > 0)) {
    files.curves = await writeChartFiles(await renderTrainingCurves(phases, 'Training curves'), join(outDir, 'training-curves'));
  }
  let md = metricsMarkdown(metrics, title) + '\n![Confusion matrix](confusion.png)\n';
  if (opts.errors) {
    const gallery = await renderErrorGallery(opts.errors.manifest, predictions, opts.errors.max === undefined ? {} : { max: opts.errors.max });
    md += '\n## Misclassified images\n\n';
    if (gallery) {
      files.errors = join(outDir, 'errors.png');
      await writeFileAtomic(files.errors, gallery.png);
      const part = gallery.shown < gallery.total ? `${gallery.shown} of the ${gallery.total}` : `All ${gallery.total}`;
      md += `${part} misclassified images, by true class, the most confident mistakes first (caption: true class, then predicted class and its probability).\n\n![Misclassified images](errors.png)\n`;
    } else {
      // A gallery left from an earlier evaluation into this (evaluate's own) folder would contradict these metrics.
      await rm(join(outDir, 'errors.png'), { force: true });
      md += predictions.some((p) => p.predicted !== p.label) ? 'Not drawn (--errors 0).\n' : 'None: every image was classified as labelled.\n';
    }
  }
  if (files.curves) md += '\n## Training curves\n\n![Training curves](training-curves.png)\n';
  await writeFileAtomic(files.markdown, md);
  // metrics.json last: its presence means the evaluation finished.
  await writeJsonAtomic(files.metrics, metrics);
  return files;
}
