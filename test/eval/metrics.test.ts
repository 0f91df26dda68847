import { describe, expect, it } from 'vitest';
import {
  agreement,
  argmax,
  computeMetrics,
  confusionChanges,
  confusionMatrix,
  metricsProblem,
} from '../../host/shared/metrics.ts';
import { createRng } from '../../host/util/rng.ts';

// Hand-worked example: three classes, class "c" is never predicted.
//            pred a  pred b  pred c
// true a        2       1       0
// true b        1       1       0
// true c        1       2       0
const yTrue = [0, 0, 0, 1, 1, 2, 2, 2];
const yPred = [0, 0, 1, 1, 0, 1, 0, 1];
const classes = ['a', 'b', 'c'];

describe('computeMetrics', () => {
  it('matches a hand-computed confusion matrix, including a class with no predictions', () => {
    const m = computeMetrics(yTrue, yPred, classes, { bootstrap: 0 });
    expect(m.schema).toBe('plastisort.metrics/1');
    expect(m.confusion).toEqual([
      [2, 1, 0],
      [1, 1, 0],
      [1, 2, 0],
    ]);
    expect(m.n).toBe(8);
    expect(m.accuracy).toBeCloseTo(3 / 8, 12);
    const [a, b, c] = m.perClass;
    expect(a).toMatchObject({ class: 'a', support: 3, predicted: 4 });
    expect(a!.precision).toBeCloseTo(2 / 4, 12);
    expect(a!.recall).toBeCloseTo(2 / 3, 12);
    expect(a!.f1).toBeCloseTo(4 / 7, 12);
    expect(b!.precision).toBeCloseTo(1 / 4, 12);
    expect(b!.recall).toBeCloseTo(1 / 2, 12);
    expect(b!.f1).toBeCloseTo(1 / 3, 12);
    // zero division: never predicted → precision 0, F1 0
    expect(c).toEqual({ class: 'c', precision: 0, recall: 0, f1: 0, support: 3, predicted: 0 });
    expect(m.macro.precision).toBeCloseTo(0.25, 12);
    expect(m.macro.recall).toBeCloseTo(7 / 18, 12);
    expect(m.macro.f1).toBeCloseTo(19 / 63, 12);
    expect(m.weighted.precision).toBeCloseTo(2 / 8, 12);
    expect(m.weighted.recall).toBeCloseTo(3 / 8, 12);
    expect(m.weighted.f1).toBeCloseTo(25 / 84, 12);
    expect(m.bootstrap).toBeUndefined();
    expect(metricsProblem(JSON.parse(JSON.stringify(m)))).toBeUndefined();
  });

  it('leaves a class absent from both truth and predictions out of the macro average', () => {
    const m = computeMetrics([0, 0, 1, 1], [0, 1, 1, 1], ['x', 'y', 'unused'], { bootstrap: 0 });
    expect(m.perClass[2]).toMatchObject({ support: 0, predicted: 0, f1: 0 });
    // x: P=1, R=.5, F1=2/3; y: P=2/3, R=1, F1=.8 → macro over two classes only
    expect(m.macro.f1).toBeCloseTo((2 / 3 + 0.8) / 2, 12);
    expect(m.macro.precision).toBeCloseTo((1 + 2 / 3) / 2, 12);
  });

  it('counts a class predicted but never true (precision 0, recall 0 by convention)', () => {
    const m = computeMetrics([0, 0, 0], [0, 1, 0], ['x', 'y'], { bootstrap: 0 });
    expect(m.perClass[1]).toEqual({ class: 'y', precision: 0, recall: 0, f1: 0, support: 0, predicted: 1 });
    expect(m.macro.recall).toBeCloseTo((2 / 3 + 0) / 2, 12);
  });

  it('perfect predictions give 1 everywhere and a degenerate interval', () => {
    const y = [0, 1, 2, 0, 1, 2];
    const m = computeMetrics(y, y, classes, { bootstrap: 200, seed: 1 });
    expect(m.accuracy).toBe(1);
    expect(m.macro).toEqual({ precision: 1, recall: 1, f1: 1 });
    expect(m.bootstrap!.accuracy).toEqual({ low: 1, high: 1 });
  });

  it('weighted recall equals accuracy on random data', () => {
    const rand = createRng(7);
    const t = Array.from({ length: 500 }, () => Math.floor(rand() * 5));
    const p = t.map((v) => (rand() < 0.7 ? v : Math.floor(rand() * 5)));
    const m = computeMetrics(t, p, ['a', 'b', 'c', 'd', 'e'], { bootstrap: 0 });
    expect(m.weighted.recall).toBeCloseTo(m.accuracy, 12);
    expect(m.confusion.flat().reduce((s, v) => s + v, 0)).toBe(500);
  });

  it('rejects mismatched lengths and out-of-range labels', () => {
    expect(() => computeMetrics([0, 1], [0], classes)).toThrow(/2 true labels but 1 predictions/);
    expect(() => computeMetrics([0, 3], [0, 1], classes)).toThrow(/true label 3 at index 1/);
    expect(() => computeMetrics([], [], classes)).toThrow(/no items/);
    expect(() => confusionMatrix([0], [1.5], 3)).toThrow(/prediction 1.5/);
  });
});

describe('bootstrap', () => {
  const rand = createRng(3);
  const t = Array.from({ length: 215 }, () => Math.floor(rand() * 6));
  const p = t.map((v) => (rand() < 0.85 ? v : Math.floor(rand() * 6)));
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];

  it('intervals contain the point estimates and are deterministic per seed', () => {
    const m1 = computeMetrics(t, p, names, { seed: 42 });
    const m2 = computeMetrics(t, p, names, { seed: 42 });
    const m3 = computeMetrics(t, p, names, { seed: 43 });
    const bs = m1.bootstrap!;
    expect(bs.resamples).toBe(1000);
    expect(bs.level).toBe(0.95);
    expect(bs.accuracy.low).toBeLessThanOrEqual(m1.accuracy);
    expect(bs.accuracy.high).toBeGreaterThanOrEqual(m1.accuracy);
    expect(bs.macroF1.low).toBeLessThanOrEqual(m1.macro.f1);
    expect(bs.macroF1.high).toBeGreaterThanOrEqual(m1.macro.f1);
    expect(bs.accuracy.high - bs.accuracy.low).toBeGreaterThan(0.02);
    // ≈ 2 × 1.96 × sqrt(p(1−p)/n) for a proportion; the bootstrap should be in that region
    const se = Math.sqrt((m1.accuracy * (1 - m1.accuracy)) / t.length);
    expect(bs.accuracy.high - bs.accuracy.low).toBeGreaterThan(2.5 * se);
    expect(bs.accuracy.high - bs.accuracy.low).toBeLessThan(5.5 * se);
    expect(m2.bootstrap).toEqual(bs);
    expect(m3.bootstrap).not.toEqual(bs);
  });
});

describe('agreement, argmax, confusionChanges', () => {
  it('agreement is the share of equal predictions', () => {
    expect(agreement([0, 1, 2, 2], [0, 1, 1, 2])).toBe(0.75);
    expect(() => agreement([0], [0, 1])).toThrow(/1 predictions against 2/);
  });

  it('argmax takes the first maximum', () => {
    expect(argmax([0.1, 0.5, 0.5, 0.2])).toBe(1);
    expect(argmax(new Float32Array([-3, -1, -2]))).toBe(1);
  });

  it('lists off-diagonal changes, largest first', () => {
    const a = computeMetrics(yTrue, yPred, classes, { bootstrap: 0 });
    const better = [...yTrue];
    const b = computeMetrics(yTrue, better, classes, { bootstrap: 0 });
    const changes = confusionChanges(a, b);
    expect(changes[0]).toEqual({ trueClass: 'c', predictedClass: 'b', a: 2, b: 0, delta: -2 });
    expect(changes.every((c) => c.trueClass !== c.predictedClass)).toBe(true);
    expect(changes.map((c) => `${c.trueClass}>${c.predictedClass}`).sort()).toEqual(['a>b', 'b>a', 'c>a', 'c>b']);
    const other = computeMetrics([0], [0], ['q', 'r', 's'], { bootstrap: 0 });
    expect(() => confusionChanges(a, other)).toThrow(/different class lists/);
  });
});
