/**
 * Classification metrics with the conventions of scikit-learn's `classification_report` (the paper's
 * tables come from it), plus a seeded percentile bootstrap for accuracy and macro F1. The schema of
 * `EvalMetrics` is what `metrics.json` holds; see docs/metrics.md.
 */

import { createRng } from '../util/rng.ts';

export const METRICS_SCHEMA = 'plastisort.metrics/1' as const;

export interface ClassMetrics {
  class: string;
  /** TP / (TP + FP); 0 when the class was never predicted. */
  precision: number;
  /** TP / (TP + FN); 0 when the class has no true items. */
  recall: number;
  /** 2PR / (P + R); 0 when P + R = 0. */
  f1: number;
  /** Number of items whose true label is this class. */
  support: number;
  /** Number of items predicted as this class. */
  predicted: number;
}

export interface Averages {
  precision: number;
  recall: number;
  f1: number;
}

export interface Interval {
  low: number;
  high: number;
}

export interface BootstrapResult {
  method: 'percentile';
  resamples: number;
  seed: number;
  /** Confidence level of the intervals, 0.95. */
  level: number;
  accuracy: Interval;
  macroF1: Interval;
}

/** Where the predictions came from; filled in by evaluate, optional for library callers. */
export interface MetricsSource {
  kind: 'run' | 'tflite' | 'device' | 'simulator' | 'other';
  /** Run folder, .tflite file or port, as given. */
  path?: string;
  runId?: string;
  sha256?: string;
}

export interface AgreementResult {
  /** What the predictions were compared with, e.g. the float run folder. */
  reference: string;
  n: number;
  /** Share of items whose top-1 class is the same in both. */
  top1: number;
}

/**
 * Evaluated on another manifest than the model was trained on: how many of the evaluated images were
 * training or validation images of the model's own manifest (`manifest`), by pixel SHA-256; not
 * `checked` when that manifest is missing or changed since training (`reason`).
 */
export type ManifestOverlap =
  | { checked: true; manifest: string; trainImages: number; valImages: number }
  | { checked: false; manifest: string; reason: 'missing' | 'changed' };

export interface EvalMetrics {
  schema: typeof METRICS_SCHEMA;
  classes: string[];
  /** Number of items evaluated. */
  n: number;
  accuracy: number;
  perClass: ClassMetrics[];
  /** Unweighted mean over the classes that occur in yTrue or yPred (scikit-learn's label set). */
  macro: Averages;
  /** Mean weighted by support. */
  weighted: Averages;
  /** confusion[t][p]: items of true class t predicted as p (rows = true, columns = predicted). */
  confusion: number[][];
  bootstrap?: BootstrapResult;
  split?: string;
  manifest?: { path: string; sha256?: string };
  source?: MetricsSource;
  agreement?: AgreementResult;
  /** `--limit N`: only the first N images of the split's `splitImages` were scored (`n` of them). */
  limit?: number;
  splitImages?: number;
  /** Present when the evaluated manifest is not the one the model was trained on. */
  overlap?: ManifestOverlap;
}

export interface MetricsOptions {
  /** Bootstrap resamples; 0 turns the bootstrap off. Default 1000. */
  bootstrap?: number;
  /** Seed of the bootstrap's generator. Default 0. */
  seed?: number;
}

function checkLabels(yTrue: readonly number[], yPred: readonly number[], k: number): void {
  if (yTrue.length !== yPred.length) {
    throw new RangeError(`metrics: ${yTrue.length} true labels but ${yPred.length} predictions`);
  }
  if (k === 0) throw new RangeError('metrics: the class list is empty');
  for (let i = 0; i < yTrue.length; i++) {
    for (const [name, v] of [['true label', yTrue[i]], ['prediction', yPred[i]]] as const) {
      if (!Number.isInteger(v) || v! < 0 || v! >= k) {
        throw new RangeError(`metrics: ${name} ${v} at index ${i} is not a class index in [0, ${k})`);
      }
    }
  }
}

export function confusionMatrix(yTrue: readonly number[], yPred: readonly number[], k: number): number[][] {
  checkLabels(yTrue, yPred, k);
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < yTrue.length; i++) m[yTrue[i]!]![yPred[i]!]!++;
  return m;
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

interface Summary {
  accuracy: number;
  perClass: Omit<ClassMetrics, 'class'>[];
  macro: Averages;
  weighted: Averages;
}

function summarise(confusion: number[][]): Summary {
  const k = confusion.length;
  let n = 0;
  let correct = 0;
  const support = new Array<number>(k).fill(0);
  const predicted = new Array<number>(k).fill(0);
  for (let t = 0; t < k; t++) {
    for (let p = 0; p < k; p++) {
      const c = confusion[t]![p]!;
      n += c;
      support[t]! += c;
      predicted[p]! += c;
      if (t === p) correct += c;
    }
  }
  const perClass = confusion.map((row, c) => {
    const tp = row[c]!;
    const precision = ratio(tp, predicted[c]!);
    const recall = ratio(tp, support[c]!);
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { precision, recall, f1, support: support[c]!, predicted: predicted[c]! };
  });
  const present = perClass.filter((m) => m.support > 0 || m.predicted > 0);
  const mean = (key: keyof Averages) => ratio(present.reduce((s, m) => s + m[key], 0), present.length);
  const wmean = (key: keyof Averages) => ratio(perClass.reduce((s, m) => s + m[key] * m.support, 0), n);
  return {
    accuracy: ratio(correct, n),
    perClass,
    macro: { precision: mean('precision'), recall: mean('recall'), f1: mean('f1') },
    weighted: { precision: wmean('precision'), recall: wmean('recall'), f1: wmean('f1') },
  };
}

/** Quantile of sorted values with linear interpolation between order statistics (numpy's default). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function bootstrapIntervals(
  yTrue: readonly number[],
  yPred: readonly number[],
  k: number,
  resamples: number,
  seed: number,
): BootstrapResult {
  const n = yTrue.length;
  const rand = createRng(seed);
  const accs = new Array<number>(resamples);
  const f1s = new Array<number>(resamples);
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let r = 0; r < resamples; r++) {
    for (const row of m) row.fill(0);
    for (let i = 0; i < n; i++) {
      const j = Math.floor(rand() * n);
      m[yTrue[j]!]![yPred[j]!]!++;
    }
    const s = summarise(m);
    accs[r] = s.accuracy;
    f1s[r] = s.macro.f1;
  }
  accs.sort((a, b) => a - b);
  f1s.sort((a, b) => a - b);
  const level = 0.95;
  const lo = (1 - level) / 2;
  const hi = 1 - lo;
  return {
    method: 'percentile',
    resamples,
    seed,
    level,
    accuracy: { low: quantileSorted(accs, lo), high: quantileSorted(accs, hi) },
    macroF1: { low: quantileSorted(f1s, lo), high: quantileSorted(f1s, hi) },
  };
}

/**
 * Metrics of predicted class indices against true class indices. Labels are indices into `classes`.
 * The bootstrap resamples items with replacement (`bootstrap` times, seeded) and reports percentile
 * intervals; the same inputs and seed always give the same intervals.
 */
export function computeMetrics(
  yTrue: readonly number[],
  yPred: readonly number[],
  classes: readonly string[],
  opts: MetricsOptions = {},
): EvalMetrics {
  const k = classes.length;
  const confusion = confusionMatrix(yTrue, yPred, k);
  if (yTrue.length === 0) throw new RangeError('metrics: no items to evaluate');
  const s = summarise(confusion);
  const resamples = opts.bootstrap ?? 1000;
  if (!Number.isInteger(resamples) || resamples < 0) {
    throw new RangeError(`metrics: bootstrap must be a whole number ≥ 0, got ${resamples}`);
  }
  const out: EvalMetrics = {
    schema: METRICS_SCHEMA,
    classes: [...classes],
    n: yTrue.length,
    accuracy: s.accuracy,
    perClass: s.perClass.map((m, i) => ({ class: classes[i]!, ...m })),
    macro: s.macro,
    weighted: s.weighted,
    confusion,
  };
  if (resamples > 0) out.bootstrap = bootstrapIntervals(yTrue, yPred, k, resamples, opts.seed ?? 0);
  return out;
}

/** Share of positions where two prediction lists give the same class. */
export function agreement(aPred: readonly number[], bPred: readonly number[]): number {
  if (aPred.length !== bPred.length) {
    throw new RangeError(`agreement: ${aPred.length} predictions against ${bPred.length}`);
  }
  if (aPred.length === 0) throw new RangeError('agreement: no predictions to compare');
  let same = 0;
  for (let i = 0; i < aPred.length; i++) if (aPred[i] === bPred[i]) same++;
  return same / aPred.length;
}

/** Index of the largest score; the first one on ties (as numpy's argmax). */
export function argmax(scores: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
  return best;
}

export interface ConfusionChange {
  trueClass: string;
  predictedClass: string;
  a: number;
  b: number;
  /** b − a. */
  delta: number;
}

/**
 * Off-diagonal confusion cells that differ between two evaluations of the same classes, largest
 * absolute change first (ties: in row-major order).
 */
export function confusionChanges(a: EvalMetrics, b: EvalMetrics): ConfusionChange[] {
  assertSameClasses(a, b);
  const out: ConfusionChange[] = [];
  a.classes.forEach((tc, t) =>
    a.classes.forEach((pc, p) => {
      if (t === p) return;
      const va = a.confusion[t]![p]!;
      const vb = b.confusion[t]![p]!;
      if (va !== vb) out.push({ trueClass: tc, predictedClass: pc, a: va, b: vb, delta: vb - va });
    }),
  );
  return out.sort((x, y) => Math.abs(y.delta) - Math.abs(x.delta));
}

export function assertSameClasses(a: EvalMetrics, b: EvalMetrics): void {
  if (a.classes.length !== b.classes.length || a.classes.some((c, i) => c !== b.classes[i])) {
    throw new RangeError(
      `the two evaluations have different class lists: [${a.classes.join(', ')}] vs [${b.classes.join(', ')}]`,
    );
  }
}

/** Checks that a parsed JSON value is an EvalMetrics of this schema; returns a reason when not. */
export function metricsProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const v = value as Partial<EvalMetrics>;
  if (v.schema !== METRICS_SCHEMA) return `schema is ${JSON.stringify(v.schema)}, expected "${METRICS_SCHEMA}"`;
  if (!Array.isArray(v.classes) || !Array.isArray(v.perClass) || !Array.isArray(v.confusion)) {
    return 'classes, perClass or confusion missing';
  }
  const k = v.classes.length;
  if (v.perClass.length !== k || v.confusion.length !== k || v.confusion.some((r) => r.length !== k)) {
    return `perClass or confusion does not match the ${k} classes`;
  }
  if (typeof v.accuracy !== 'number' || typeof v.n !== 'number') return 'accuracy or n missing';
  return undefined;
}
