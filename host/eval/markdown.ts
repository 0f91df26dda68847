/**
 * Markdown renderings of EvalMetrics. The per-class table follows the layout of scikit-learn's
 * `classification_report`, which is how the reference paper presents its results: one row per class
 * (precision, recall, F1, support), then accuracy, macro avg and weighted avg.
 */
import { confusionChanges, type EvalMetrics } from '../shared/metrics.ts';

const fmt = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : '–');
const signed = (v: number, digits: number): string => {
  const s = v.toFixed(digits);
  return Number(s) === 0 ? `±${(0).toFixed(digits)}` : v > 0 ? `+${s}` : s;
};
/** Escapes what would break a table cell. */
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(header: string[], align: ('l' | 'r')[], rows: string[][]): string {
  const sep = align.map((a) => (a === 'r' ? '---:' : ':---'));
  return [header, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n') + '\n';
}

export interface TableOptions {
  /** Decimal places; 2 as in the paper and scikit-learn's default. */
  digits?: number;
}

/** class | precision | recall | f1-score | support, then accuracy, macro avg, weighted avg. */
export function perClassTable(m: EvalMetrics, opts: TableOptions = {}): string {
  const d = opts.digits ?? 2;
  const rows = m.perClass.map((c) => [cell(c.class), fmt(c.precision, d), fmt(c.recall, d), fmt(c.f1, d), String(c.support)]);
  rows.push(['**accuracy**', '', '', fmt(m.accuracy, d), String(m.n)]);
  rows.push(['**macro avg**', fmt(m.macro.precision, d), fmt(m.macro.recall, d), fmt(m.macro.f1, d), String(m.n)]);
  rows.push(['**weighted avg**', fmt(m.weighted.precision, d), fmt(m.weighted.recall, d), fmt(m.weighted.f1, d), String(m.n)]);
  return table(['class', 'precision', 'recall', 'f1-score', 'support'], ['l', 'r', 'r', 'r', 'r'], rows);
}

/** Rows = true class, columns = predicted class, counts. */
export function confusionTable(m: EvalMetrics): string {
  const header = ['true \\ predicted', ...m.classes.map(cell)];
  const rows = m.confusion.map((row, t) => [
    cell(m.classes[t]!),
    ...row.map((v, p) => (t === p ? `**${v}**` : String(v))),
  ]);
  return table(header, ['l', ...m.classes.map(() => 'r' as const)], rows);
}

/** "accuracy 0.912 (95% CI 0.874–0.944), macro F1 …" from the bootstrap, or '' without one. */
export function intervalLine(m: EvalMetrics, digits = 3): string {
  const b = m.bootstrap;
  if (!b) return '';
  const pct = Math.round(b.level * 100);
  return (
    `accuracy ${fmt(m.accuracy, digits)} (${pct}% CI ${fmt(b.accuracy.low, digits)}–${fmt(b.accuracy.high, digits)}), ` +
    `macro F1 ${fmt(m.macro.f1, digits)} (${pct}% CI ${fmt(b.macroF1.low, digits)}–${fmt(b.macroF1.high, digits)}); ` +
    `${b.method} bootstrap, ${b.resamples} resamples, seed ${b.seed}`
  );
}

export interface CompareOptions extends TableOptions {
  /** Column labels, default 'A' and 'B' (e.g. 'baseline' and 'fine-tuned'). */
  labelA?: string;
  labelB?: string;
}

/**
 * Two evaluations of the same classes side by side: precision, recall and F1 for each, with the F1
 * change (B − A), then accuracy, macro avg and weighted avg rows.
 */
export function compareTable(a: EvalMetrics, b: EvalMetrics, opts: CompareOptions = {}): string {
  if (a.classes.join('\u0000') !== b.classes.join('\u0000')) {
    throw new RangeError(
      `cannot compare evaluations of different class lists: [${a.classes.join(', ')}] vs [${b.classes.join(', ')}]`,
    );
  }
  const d = opts.digits ?? 3;
  const A = cell(opts.labelA ?? 'A');
  const B = cell(opts.labelB ?? 'B');
  const header = [
    'class',
    `precision ${A}`,
    `precision ${B}`,
    `recall ${A}`,
    `recall ${B}`,
    `f1 ${A}`,
    `f1 ${B}`,
    'Δ f1',
    'support',
  ];
  const row = (name: string, pa: number, pb: number, ra: number, rb: number, fa: number, fb: number, support: string) => [
    name,
    fmt(pa, d),
    fmt(pb, d),
    fmt(ra, d),
    fmt(rb, d),
    fmt(fa, d),
    fmt(fb, d),
    signed(fb - fa, d),
    support,
  ];
  const support = (sa: number, sb: number) => (sa === sb ? String(sa) : `${sa} / ${sb}`);
  const rows = a.perClass.map((ca, i) => {
    const cb = b.perClass[i]!;
    return row(cell(ca.class), ca.precision, cb.precision, ca.recall, cb.recall, ca.f1, cb.f1, support(ca.support, cb.support));
  });
  rows.push(['**accuracy**', '', '', '', '', fmt(a.accuracy, d), fmt(b.accuracy, d), signed(b.accuracy - a.accuracy, d), support(a.n, b.n)]);
  rows.push(row('**macro avg**', a.macro.precision, b.macro.precision, a.macro.recall, b.macro.recall, a.macro.f1, b.macro.f1, support(a.n, b.n)));
  rows.push(
    row('**weighted avg**', a.weighted.precision, b.weighted.precision, a.weighted.recall, b.weighted.recall, a.weighted.f1, b.weighted.f1, support(a.n, b.n)),
  );
  return table(header, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'], rows);
}

/** The off-diagonal confusion cells that changed most between A and B, as a table (at most `limit`). */
export function confusionChangesTable(a: EvalMetrics, b: EvalMetrics, opts: CompareOptions & { limit?: number } = {}): string {
  const changes = confusionChanges(a, b).slice(0, opts.limit ?? 10);
  if (changes.length === 0) return '_No confusion cell changed._\n';
  const A = cell(opts.labelA ?? 'A');
  const B = cell(opts.labelB ?? 'B');
  return table(
    ['true class', 'predicted as', A, B, 'change'],
    ['l', 'l', 'r', 'r', 'r'],
    changes.map((c) => [cell(c.trueClass), cell(c.predictedClass), String(c.a), String(c.b), c.delta > 0 ? `+${c.delta}` : String(c.delta)]),
  );
}

/** The whole `metrics.md`: what was evaluated, the per-class table, the intervals, the confusion matrix. */
export function metricsMarkdown(m: EvalMetrics, title = 'Evaluation'): string {
  const lines: string[] = [`# ${title}`, ''];
  const facts: string[] = [];
  if (m.source) facts.push(`model: ${m.source.kind}${m.source.path ? ` \`${m.source.path}\`` : ''}${m.source.runId ? ` (run ${m.source.runId})` : ''}`);
  if (m.manifest) facts.push(`manifest: \`${m.manifest.path}\``);
  if (m.overlap) {
    const o = m.overlap;
    facts.push(
      o.checked
        ? `not the manifest the model was trained on (\`${o.manifest}\`): ${o.trainImages} of the ${m.n} images were its training images and ${o.valImages} its validation images (same pixels)`
        : `not the manifest the model was trained on (\`${o.manifest}\`, ${o.reason === 'missing' ? 'missing' : 'changed since training'}): overlap with its training images not checked`,
    );
  }
  const limited = m.limit !== undefined ? `, the first ${m.n} of its ${m.splitImages ?? '?'} (--limit ${m.limit})` : '';
  if (m.split) facts.push(`split: ${m.split} (${m.n} images${limited})`);
  else facts.push(`${m.n} images${limited}`);
  lines.push(...facts.map((f) => `- ${f}`), '');
  lines.push(perClassTable(m));
  const ci = intervalLine(m);
  if (ci) lines.push(ci, '');
  if (m.agreement) {
    lines.push(
      `Top-1 agreement with ${m.agreement.reference}: ${fmt(m.agreement.top1 * 100, 2)}% of ${m.agreement.n} images.`,
      '',
    );
  }
  lines.push('## Confusion matrix (rows = true class, columns = predicted)', '', confusionTable(m));
  return lines.join('\n');
}
