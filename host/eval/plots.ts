/**
 * Evaluation figures as Vega-Lite specs (confusion-matrix heat map, training curves), rendered to SVG
 * and PNG through shared/charts.ts. The specs are exported so the HTML report draws the same figures.
 */
import { renderChart, type RenderedChart, type VegaLiteSpec } from '../shared/charts.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import type { EvalMetrics } from '../shared/metrics.ts';

export interface ConfusionPlotOptions {
  title?: string;
  /** Pixel size of one cell; default fits the matrix into about 360 px. */
  cell?: number;
}

/** Heat map coloured by the row-normalised rate (recall for the diagonal), each cell labelled with its count. */
export function confusionSpec(m: EvalMetrics, opts: ConfusionPlotOptions = {}): VegaLiteSpec {
  const k = m.classes.length;
  const cell = opts.cell ?? Math.max(18, Math.min(56, Math.floor(360 / k)));
  const values: { true: string; predicted: string; count: number; rate: number }[] = [];
  m.confusion.forEach((row, t) => {
    const total = row.reduce((s, v) => s + v, 0);
    row.forEach((count, p) => {
      values.push({ true: m.classes[t]!, predicted: m.classes[p]!, count, rate: total === 0 ? 0 : count / total });
    });
  });
  const axisX = { field: 'predicted', type: 'nominal', sort: m.classes, title: 'predicted class', axis: { labelAngle: -40 } };
  const axisY = { field: 'true', type: 'nominal', sort: m.classes, title: 'true class' };
  return {
    ...(opts.title ? { title: opts.title } : {}),
    width: cell * k,
    height: cell * k,
    data: { values },
    encoding: { x: axisX, y: axisY },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          color: {
            field: 'rate',
            type: 'quantitative',
            scale: { domain: [0, 1], range: ['#f7fbff', '#08306b'], interpolate: 'hcl' },
            title: 'share of row',
            legend: { format: '.0%' },
          },
          tooltip: [
            { field: 'true', type: 'nominal' },
            { field: 'predicted', type: 'nominal' },
            { field: 'count', type: 'quantitative' },
            { field: 'rate', type: 'quantitative', format: '.1%' },
          ],
        },
      },
      {
        mark: { type: 'text', fontSize: Math.max(8, Math.min(13, cell / 3)) },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.rate > 0.5', value: 'white' }, value: '#222' },
        },
      },
    ],
  };
}

/** One epoch of training as recorded in a run's history.json. */
export interface EpochRecord {
  epoch: number;
  loss?: number;
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
}

export interface TrainingHistory {
  epochs: EpochRecord[];
  bestEpoch?: number;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
function pick(o: Record<string, unknown>, keys: string[]): number | undefined {
  for (const k of keys) {
    const v = num(o[k]);
    if (v !== undefined) return v;
  }
  return undefined;
}
const KEYS = {
  loss: ['loss', 'trainLoss', 'train_loss'],
  accuracy: ['accuracy', 'acc', 'trainAccuracy', 'train_accuracy'],
  valLoss: ['valLoss', 'val_loss'],
  valAccuracy: ['valAccuracy', 'val_accuracy', 'val_acc', 'valAcc'],
};

/**
 * Reads a history.json in the forms trainers write: `{ epochs: [{ epoch, loss, accuracy, valLoss,
 * valAccuracy }], bestEpoch }`, a bare array of such records, or Keras' columnar
 * `{ loss: [...], val_loss: [...] }` (optionally under `history`). snake_case keys are accepted.
 */
export function normaliseHistory(raw: unknown): TrainingHistory {
  const obj = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const bestEpoch = num(obj.bestEpoch) ?? num(obj.best_epoch);
  let records: Record<string, unknown>[] | undefined;
  if (Array.isArray(raw)) records = raw as Record<string, unknown>[];
  else if (Array.isArray(obj.epochs)) records = obj.epochs as Record<string, unknown>[];
  if (records) {
    return {
      epochs: records.map((r, i) => ({
        epoch: num(r.epoch) ?? i + 1,
        loss: pick(r, KEYS.loss),
        accuracy: pick(r, KEYS.accuracy),
        valLoss: pick(r, KEYS.valLoss),
        valAccuracy: pick(r, KEYS.valAccuracy),
      })),
      ...(bestEpoch !== undefined ? { bestEpoch } : {}),
    };
  }
  const cols = (obj.history && typeof obj.history === 'object' ? obj.history : obj) as Record<string, unknown>;
  const col = (keys: string[]) => {
    for (const k of keys) if (Array.isArray(cols[k])) return cols[k] as unknown[];
    return undefined;
  };
  const columns = Object.fromEntries(Object.entries(KEYS).map(([name, keys]) => [name, col(keys)])) as Record<
    keyof typeof KEYS,
    unknown[] | undefined
  >;
  const n = Math.max(0, ...Object.values(columns).map((c) => c?.length ?? 0));
  const epochs: EpochRecord[] = [];
  for (let i = 0; i < n; i++) {
    epochs.push({
      epoch: i + 1,
      loss: num(columns.loss?.[i]),
      accuracy: num(columns.accuracy?.[i]),
      valLoss: num(columns.valLoss?.[i]),
      valAccuracy: num(columns.valAccuracy?.[i]),
    });
  }
  return { epochs, ...(bestEpoch !== undefined ? { bestEpoch } : {}) };
}

export interface CurvesInput {
  /** Stage name shown in the legend, e.g. 'baseline' or 'fine-tune'. */
  phase: string;
  history: TrainingHistory;
}

/**
 * Loss and accuracy per epoch, train (solid) and validation (dashed), side by side. Several phases are
 * drawn one after the other on a common epoch axis (fine-tuning continues where the baseline stopped),
 * each phase in its own colour; a dotted rule marks each phase's best epoch.
 */
export function trainingCurvesSpec(phases: CurvesInput[], title?: string): VegaLiteSpec {
  const values: { epoch: number; phase: string; split: string; metric: string; value: number }[] = [];
  const best: { epoch: number; phase: string }[] = [];
  let offset = 0;
  for (const { phase, history } of phases) {
    for (const e of history.epochs) {
      const x = offset + e.epoch;
      const add = (metric: string, split: string, v: number | undefined) => {
        if (v !== undefined) values.push({ epoch: x, phase, split, metric, value: v });
      };
      add('loss', 'train', e.loss);
      add('loss', 'validation', e.valLoss);
      add('accuracy', 'train', e.accuracy);
      add('accuracy', 'validation', e.valAccuracy);
    }
    if (history.bestEpoch !== undefined) best.push({ epoch: offset + history.bestEpoch, phase });
    offset += Math.max(0, ...history.epochs.map((e) => e.epoch));
  }
  const phaseNames = phases.map((p) => p.phase);
  const panel = (metric: string, yTitle: string, domain?: number[]) => ({
    width: 300,
    height: 200,
    layer: [
      {
        data: { values: values.filter((v) => v.metric === metric) },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' } },
          y: { field: 'value', type: 'quantitative', title: yTitle, scale: domain ? { domain } : { zero: false } },
          color: { field: 'phase', type: 'nominal', sort: phaseNames, title: 'phase', legend: { symbolType: 'stroke', symbolSize: 400, symbolStrokeWidth: 3 } },
          strokeDash: {
            field: 'split',
            type: 'nominal',
            sort: ['train', 'validation'],
            title: 'split',
            legend: { symbolType: 'stroke', symbolStrokeColor: '#444', symbolSize: 400 },
          },
          detail: { field: 'split' },
          tooltip: [
            { field: 'phase', type: 'nominal' },
            { field: 'split', type: 'nominal' },
            { field: 'epoch', type: 'quantitative' },
            { field: 'value', type: 'quantitative', format: '.4f' },
          ],
        },
      },
      // Dots in their own layer (a line's built-in points would replace the dash legend's symbols);
      // they also keep a one-epoch phase visible.
      {
        data: { values: values.filter((v) => v.metric === metric) },
        mark: { type: 'point', filled: true, size: 18, opacity: 1 },
        encoding: {
          x: { field: 'epoch', type: 'quantitative' },
          y: { field: 'value', type: 'quantitative' },
          color: { field: 'phase', type: 'nominal', sort: phaseNames },
        },
      },
      ...(best.length
        ? [
            {
              data: { values: best },
              mark: { type: 'rule', strokeDash: [2, 3], color: '#888' },
              encoding: { x: { field: 'epoch', type: 'quantitative' } },
            },
          ]
        : []),
    ],
  });
  return {
    ...(title ? { title } : {}),
    hconcat: [panel('loss', 'loss'), panel('accuracy', 'accuracy', [0, 1])],
    resolve: { scale: { color: 'shared', strokeDash: 'shared' } },
  };
}

/** Writes `<base>.svg` and `<base>.png` atomically; returns the chart. */
export async function writeChartFiles(chart: RenderedChart, base: string): Promise<{ svg: string; png: string }> {
  const svgPath = `${base}.svg`;
  const pngPath = `${base}.png`;
  await writeFileAtomic(svgPath, chart.svg);
  await writeFileAtomic(pngPath, await chart.png());
  return { svg: svgPath, png: pngPath };
}

export async function renderConfusion(m: EvalMetrics, opts: ConfusionPlotOptions = {}): Promise<RenderedChart> {
  return renderChart(confusionSpec(m, opts));
}

export async function renderTrainingCurves(phases: CurvesInput[], title?: string): Promise<RenderedChart> {
  return renderChart(trainingCurvesSpec(phases, title));
}
