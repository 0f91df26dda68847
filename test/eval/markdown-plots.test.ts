import { describe, expect, it } from 'vitest';
import { computeMetrics } from '../../host/shared/metrics.ts';
import { compareTable, confusionChangesTable, confusionTable, metricsMarkdown, perClassTable } from '../../host/eval/markdown.ts';
import { confusionSpec, normaliseHistory, renderConfusion, renderTrainingCurves, trainingCurvesSpec } from '../../host/eval/plots.ts';

const classes = ['bottle', 'bag', 'cup'];
const yTrue = [0, 0, 0, 1, 1, 2, 2, 2];
const yA = [0, 0, 1, 1, 0, 1, 0, 1];
const yB = [0, 0, 0, 1, 1, 2, 2, 1];
const a = computeMetrics(yTrue, yA, classes, { bootstrap: 100, seed: 1 });
const b = computeMetrics(yTrue, yB, classes, { bootstrap: 0 });

const rows = (md: string) => md.trim().split('\n').map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));

describe('markdown tables', () => {
  it('per-class table is laid out like classification_report', () => {
    const r = rows(perClassTable(a));
    expect(r[0]).toEqual(['class', 'precision', 'recall', 'f1-score', 'support']);
    expect(r[1]).toEqual([':---', '---:', '---:', '---:', '---:']);
    expect(r.slice(2, 5).map((x) => x[0])).toEqual(classes);
    expect(r[2]).toEqual(['bottle', '0.50', '0.67', '0.57', '3']);
    expect(r[4]).toEqual(['cup', '0.00', '0.00', '0.00', '3']);
    expect(r[5]).toEqual(['**accuracy**', '', '', '0.38', '8']);
    expect(r[6]![0]).toBe('**macro avg**');
    expect(r[6]![3]).toBe((19 / 63).toFixed(2));
    expect(r[7]![0]).toBe('**weighted avg**');
    expect(r.length).toBe(8);
    expect(rows(perClassTable(a, { digits: 4 }))[2]![1]).toBe('0.5000');
  });

  it('compare table puts A and B side by side with signed F1 deltas', () => {
    const r = rows(compareTable(a, b, { labelA: 'baseline', labelB: 'fine-tuned' }));
    expect(r[0]).toEqual([
      'class',
      'precision baseline',
      'precision fine-tuned',
      'recall baseline',
      'recall fine-tuned',
      'f1 baseline',
      'f1 fine-tuned',
      'Δ f1',
      'support',
    ]);
    const cup = r.find((x) => x[0] === 'cup')!;
    expect(cup[5]).toBe('0.000');
    expect(cup[6]).toBe((0.8).toFixed(3)); // P = 1, R = 2/3
    expect(cup[7]).toBe('+0.800');
    const acc = r.find((x) => x[0] === '**accuracy**')!;
    expect(acc.slice(5)).toEqual(['0.375', '0.875', '+0.500', '8']);
    const same = rows(compareTable(a, a));
    expect(same.find((x) => x[0] === '**macro avg**')![7]).toBe('±0.000');
    const other = computeMetrics([0], [0], ['x', 'y', 'z'], { bootstrap: 0 });
    expect(() => compareTable(a, other)).toThrow(/different class lists/);
  });

  it('confusion tables and the metrics.md document', () => {
    const c = rows(confusionTable(a));
    expect(c[0]).toEqual(['true \\ predicted', ...classes]);
    expect(c[2]).toEqual(['bottle', '**2**', '1', '0']);
    const ch = rows(confusionChangesTable(a, b, { labelA: 'A', labelB: 'B' }));
    expect(ch[2]).toEqual(['bottle', 'bag', '1', '0', '-1']);
    expect(ch).toHaveLength(2 + 4);
    expect(confusionChangesTable(a, a)).toMatch(/No confusion cell changed/);
    const md = metricsMarkdown({ ...a, split: 'test', agreement: { reference: 'float run', n: 8, top1: 0.875 } }, 'Run X');
    expect(md.startsWith('# Run X\n')).toBe(true);
    expect(md).toContain('split: test (8 images)');
    expect(md).toMatch(/95% CI \d\.\d{3}–\d\.\d{3}/);
    expect(md).toContain('Top-1 agreement with float run: 87.50% of 8 images.');
    expect(md).toContain('## Confusion matrix');
  });
});

describe('plots', () => {
  it('confusion heat map has one cell and one count label per matrix entry', async () => {
    const spec = confusionSpec(a, { title: 'A' });
    const chart = await renderConfusion(a, { title: 'A' });
    const rects = chart.svg.match(/<g class="mark-rect role-mark[^>]*>(.*?)<\/g>/s)![1]!.match(/<path /g)!.length;
    expect(rects).toBe(9);
    const texts = [...chart.svg.matchAll(/<g class="mark-text role-mark[^>]*>(.*?)<\/g>/gs)][0]![1]!;
    const labels = [...texts.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]).sort();
    expect(labels).toEqual(a.confusion.flat().map(String).sort());
    expect((spec.data as { values: unknown[] }).values).toHaveLength(9);
  });

  it('reads history in record and Keras column forms', () => {
    const h1 = normaliseHistory({ epochs: [{ epoch: 1, loss: 1, accuracy: 0.5, valLoss: 1.1, valAccuracy: 0.4 }], bestEpoch: 1 });
    const h2 = normaliseHistory({ loss: [0.5, 0.4], val_loss: [0.6, 0.7], acc: [0.8, 0.9], val_accuracy: [0.7, 0.75] });
    expect(h1).toEqual({ epochs: [{ epoch: 1, loss: 1, accuracy: 0.5, valLoss: 1.1, valAccuracy: 0.4 }], bestEpoch: 1 });
    expect(h2.epochs[1]).toEqual({ epoch: 2, loss: 0.4, accuracy: 0.9, valLoss: 0.7, valAccuracy: 0.75 });
    expect(normaliseHistory([{ loss: 2 }]).epochs[0]).toMatchObject({ epoch: 1, loss: 2 });
  });

  it('training curves draw train and validation lines per phase, fine-tune after baseline', async () => {
    const base = normaliseHistory({ loss: [1, 0.6, 0.5], val_loss: [1.2, 0.8, 0.9], accuracy: [0.5, 0.7, 0.8], val_accuracy: [0.4, 0.6, 0.6] });
    const ft = normaliseHistory({ loss: [0.4, 0.3], val_loss: [0.7, 0.6], accuracy: [0.85, 0.9], val_accuracy: [0.7, 0.72], bestEpoch: 2 });
    const spec = trainingCurvesSpec([{ phase: 'baseline', history: base }, { phase: 'fine-tune', history: ft }]);
    const lossData = (spec.hconcat as { layer: { data: { values: { epoch: number; phase: string }[] } }[] }[])[0]!.layer[0]!.data.values;
    expect(Math.min(...lossData.filter((v) => v.phase === 'fine-tune').map((v) => v.epoch))).toBe(4);
    const chart = await renderTrainingCurves([{ phase: 'baseline', history: base }, { phase: 'fine-tune', history: ft }], 'T');
    // 2 panels × 2 phases × 2 splits = 8 line paths
    const lines = [...chart.svg.matchAll(/<g class="mark-line role-mark[^>]*>(.*?)<\/g>/gs)].map((m) => m[1]!.match(/<path /g)!.length);
    expect(lines.reduce((s, v) => s + v, 0)).toBe(8);
    expect(chart.svg).toContain('>validation<');
    expect(chart.svg).toContain('>fine-tune<');
  });
});
