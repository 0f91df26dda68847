/** One HTML section of the run report per block: backbone, summary, dataset, training, evaluation, fidelity, model, HIL. */
import { confusionSpec, normaliseHistory, trainingCurvesSpec, type CurvesInput } from '../eval/plots.ts';
import type { EvalMetrics } from '../shared/metrics.ts';
import { bytes, e, figures, imageDataUri, num, pct, section, table, type Figure } from './html-parts.ts';
import type { BackboneNotice, DatasetSection, FidelityRow, ModelSection, ReportInput } from './report-input.ts';

const ORIGIN_TEXT: Record<string, string> = {
  given: 'named by --backbone',
  cache: 'from the user cache (downloaded earlier by plastisort)',
  shared: 'from ../shared beside the checkout',
  download: 'downloaded for this run',
  fallback: 'fallback',
};

function originBlock(o: BackboneNotice['origin']): string {
  if (!o) return '';
  const parts = [ORIGIN_TEXT[o.via] ?? o.via];
  if (o.url) parts.push(`source URL <code>${e(o.url)}</code>${o.fetchedAt ? ` (fetched ${e(o.fetchedAt)})` : ''}`);
  if (o.checks) parts.push(`structure check ${e(o.checks.structure)}; known-image check ${e(o.checks.knownImage)}`);
  if (o.reason) parts.push(`why: ${e(o.reason)}`);
  return `<br><small>${parts.join(' · ')}</small>`;
}

export function backboneBlock(b: BackboneNotice | undefined): string {
  if (!b) return '';
  if (b.fallback || /nsfw/i.test(b.kind) || /nsfw/i.test(b.source)) {
    return (
      `<div class="alert" role="alert"><strong>Backbone: nsfwjs fallback.</strong> This model was trained on the ` +
      `MobileNetV2 weights shipped with the npm package <code>nsfwjs</code>, used because no ImageNet weights were given. ` +
      `Its layers from <code>block_11_expand</code> on were re-trained on NSFW data; measured on plastic6, a linear probe ` +
      `reaches 69% with it against 89% with ImageNet weights. Expect lower accuracy than the paper. Re-run with ` +
      `<code>--backbone</code> pointing at ImageNet MobileNetV2 weights (a tfjs folder, a <code>.tflite</code> or a Keras <code>.h5</code>), ` +
      `or run <code>plastisort backbone fetch</code> once with network access to cache the official Keras ImageNet weights.` +
      `<br><small>source: ${e(b.source)}</small>${originBlock(b.origin)}</div>`
    );
  }
  return (
    `<div class="notice"><strong>Backbone:</strong> ${e(b.kind)} from <code>${e(b.source)}</code>` +
    (b.sha256 ? ` <small>(SHA-256 ${e(b.sha256.slice(0, 16))}…)</small>` : '') +
    originBlock(b.origin) +
    `</div>`
  );
}

export function summaryBlock(input: ReportInput): string {
  const rows: string[][] = [];
  for (const ev of input.evaluations ?? []) {
    const m = ev.metrics;
    const b = m.bootstrap;
    rows.push([
      e(ev.label),
      e(m.split ?? '–'),
      String(m.n),
      `<b>${pct(m.accuracy)}</b>${b ? ` <small>[${pct(b.accuracy.low)}–${pct(b.accuracy.high)}]</small>` : ''}`,
      `${num(m.macro.f1)}${b ? ` <small>[${num(b.macroF1.low)}–${num(b.macroF1.high)}]</small>` : ''}`,
      m.agreement ? `${pct(m.agreement.top1, 2)} <small>vs ${e(m.agreement.reference)}</small>` : '',
    ]);
  }
  const facts: string[] = [];
  if (input.model) facts.push(`<li>.tflite size: <b>${bytes(input.model.fileBytes)}</b>${input.model.arena ? `, arena estimate ${bytes(input.model.arena.peakBytes)}` : ''}</li>`);
  if (input.hil) {
    const t = input.hil.timing;
    facts.push(
      `<li>HIL (${e(hilTarget(input))}): ${num(t.imagesPerSecond, 2)} images/s, invoke mean ${num(t.invokeUsMean / 1000, 1)} ms, p95 ${num(t.invokeUsP95 / 1000, 1)} ms</li>`,
    );
  }
  const simRow = fidelityRows(input).find((r) => /simulator/i.test(r.from) && /litert/i.test(r.to));
  if (simRow) {
    facts.push(`<li>Simulator vs LiteRT: top-1 agreement <b>${pct(simRow.top1, 2)}</b>${simRow.within1 !== undefined ? `, ${pct(simRow.within1, 2)} of output values within ±1 LSB` : ''} (${simRow.n} images)</li>`);
  }
  if (rows.length === 0 && facts.length === 0) return '';
  const t = rows.length
    ? table(['model', 'split', 'images', 'accuracy [95% CI]', 'macro F1 [95% CI]', 'top-1 agreement'], rows, 'summary')
    : '';
  return section('summary', 'Summary', t + (facts.length ? `<ul class="facts">${facts.join('')}</ul>` : ''));
}

export async function datasetBlock(d: DatasetSection): Promise<string> {
  const m = d.manifest;
  const splits = ['train', 'val', 'test'] as const;
  const rows = m.classes.map((c) => {
    const cnt = m.counts[c] ?? { train: 0, val: 0, test: 0 };
    return [e(c), ...splits.map((s) => String(cnt[s])), String(cnt.train + cnt.val + cnt.test)];
  });
  const totals = splits.map((s) => m.classes.reduce((n, c) => n + (m.counts[c]?.[s] ?? 0), 0));
  rows.push(['<b>total</b>', ...totals.map((v) => `<b>${v}</b>`), `<b>${totals.reduce((a, b) => a + b, 0)}</b>`]);
  const facts: string[] = [];
  if (d.manifestPath) facts.push(`manifest <code>${e(d.manifestPath)}</code>${m.seed !== undefined ? `, seed ${m.seed}` : ''}`);
  if (m.duplicateGroups !== undefined) facts.push(`${m.duplicateGroups} duplicate groups kept within one split each`);
  if (m.conflicts) facts.push(`${m.conflicts.length} cross-class label conflicts`);
  if (m.dropped) facts.push(`${m.dropped.length} files dropped (unreadable or conflicting)`);
  for (const n of d.notes ?? []) facts.push(e(n));
  const values = m.classes.flatMap((c) => splits.map((s) => ({ class: c, split: s, images: m.counts[c]?.[s] ?? 0 })));
  const chart = await figures([
    {
      caption: 'Images per class and split',
      spec: {
        width: 360,
        height: Math.max(120, 24 * m.classes.length),
        data: { values },
        mark: 'bar',
        encoding: {
          y: { field: 'class', type: 'nominal', sort: m.classes, title: null },
          x: { field: 'images', type: 'quantitative', stack: 'zero', title: 'images' },
          color: { field: 'split', type: 'nominal', sort: [...splits], scale: { range: ['#4c78a8', '#f58518', '#54a24b'] } },
          order: { field: 'splitOrder' },
        },
        transform: [{ calculate: "indexof(['train','val','test'], datum.split)", as: 'splitOrder' }],
      },
    },
  ]);
  let sheet = '';
  if (d.contactSheet) {
    sheet = `<figure class="image"><img alt="contact sheet: random samples per class" src="${await imageDataUri(d.contactSheet)}"><figcaption>Random samples per class</figcaption></figure>`;
  }
  return section(
    'dataset',
    'Dataset',
    `<ul class="facts">${facts.map((f) => `<li>${f}</li>`).join('')}</ul>` +
      `<div class="row">${table(['class', 'train', 'val', 'test', 'total'], rows, 'counts')}${chart}</div>` +
      sheet,
  );
}

export async function trainingBlock(t: NonNullable<ReportInput['training']>): Promise<string> {
  const phases: CurvesInput[] = [];
  if (t.baseline) phases.push({ phase: 'baseline', history: normaliseHistory(t.baseline) });
  if (t.finetune) phases.push({ phase: 'fine-tune', history: normaliseHistory(t.finetune) });
  const withData = phases.filter((p) => p.history.epochs.length > 0);
  if (withData.length === 0) return '';
  const rows = withData.map((p) => {
    const last = p.history.epochs[p.history.epochs.length - 1]!;
    const best = p.history.epochs.find((x) => x.epoch === p.history.bestEpoch) ?? last;
    return [e(p.phase), String(p.history.epochs.length), String(p.history.bestEpoch ?? '–'), num(best.valLoss), pct(best.valAccuracy), pct(best.accuracy)];
  });
  return section(
    'training',
    'Training',
    table(['phase', 'epochs', 'best epoch', 'val loss (best)', 'val accuracy (best)', 'train accuracy (best)'], rows) +
      (await figures([
        {
          spec: trainingCurvesSpec(withData),
          caption: 'Loss and accuracy per epoch; fine-tuning continues after the baseline; dotted lines mark the restored best epochs',
          wide: true,
        },
      ])),
  );
}

function perClassHtml(m: EvalMetrics): string {
  const f = (v: number) => v.toFixed(2);
  const rows = m.perClass.map((c) => [e(c.class), f(c.precision), f(c.recall), f(c.f1), String(c.support)]);
  rows.push(['<b>accuracy</b>', '', '', f(m.accuracy), String(m.n)]);
  rows.push(['<b>macro avg</b>', f(m.macro.precision), f(m.macro.recall), f(m.macro.f1), String(m.n)]);
  rows.push(['<b>weighted avg</b>', f(m.weighted.precision), f(m.weighted.recall), f(m.weighted.f1), String(m.n)]);
  return table(['class', 'precision', 'recall', 'f1-score', 'support'], rows, 'report');
}

export async function evaluationBlock(input: ReportInput): Promise<string> {
  const evals = input.evaluations ?? [];
  if (evals.length === 0) return '';
  const primary =
    evals.find((x) => x.label === input.primary) ?? evals.find((x) => /fine/i.test(x.label)) ?? evals[0]!;
  const pm = primary.metrics;
  let body =
    `<h3>Per-class results: ${e(primary.label)} (${e(pm.split ?? '')} split)</h3>` +
    `<div class="row">${perClassHtml(pm)}<p class="side">Layout of scikit-learn's <code>classification_report</code>, as in the reference paper.` +
    (pm.bootstrap
      ? ` Bootstrap ${Math.round(pm.bootstrap.level * 100)}% intervals (${pm.bootstrap.resamples} resamples): accuracy ${pct(pm.bootstrap.accuracy.low)}–${pct(pm.bootstrap.accuracy.high)}, macro F1 ${num(pm.bootstrap.macroF1.low)}–${num(pm.bootstrap.macroF1.high)}.`
      : '') +
    `</p></div>`;

  const sameClasses = evals.every((x) => x.metrics.classes.join('\u0000') === pm.classes.join('\u0000'));
  const figs: Figure[] = [];
  if (evals.length > 1 && sameClasses) {
    const labels = evals.map((x) => x.label);
    const values = evals.flatMap((x) => x.metrics.perClass.map((c) => ({ model: x.label, class: c.class, f1: c.f1 })));
    figs.push({
      caption: 'F1 per class for each model',
      wide: true,
      spec: {
        data: { values },
        width: { step: 14 },
        height: 200,
        mark: 'bar',
        encoding: {
          x: { field: 'class', type: 'nominal', sort: pm.classes, title: null, axis: { labelAngle: -30 } },
          xOffset: { field: 'model', type: 'nominal', sort: labels },
          y: { field: 'f1', type: 'quantitative', scale: { domain: [0, 1] }, title: 'F1' },
          color: { field: 'model', type: 'nominal', sort: labels, title: 'model' },
          tooltip: [{ field: 'model' }, { field: 'class' }, { field: 'f1', type: 'quantitative', format: '.3f' }],
        },
      },
    });
  }
  body += await figures(figs);
  body += '<h3>Confusion matrices</h3>';
  body += await figures(evals.map((x) => ({ spec: confusionSpec(x.metrics, { title: x.label, cell: 34 }), caption: `${x.label}: rows = true class, columns = predicted; colour = share of the row` })));
  if (primary.errorsImage) {
    body +=
      `<h3>Misclassified images: ${e(primary.label)}</h3>` +
      `<figure class="image"><img alt="misclassified images of ${e(primary.label)}" src="${await imageDataUri(primary.errorsImage)}">` +
      `<figcaption>By true class, the most confident mistakes first; caption: true class, then predicted class and its probability</figcaption></figure>`;
  }
  return section('evaluation', 'Evaluation', body);
}

function hilTarget(input: ReportInput): 'simulator' | 'device' {
  if (input.hilTarget) return input.hilTarget;
  return /sim/i.test(input.hil?.device?.link ?? '') ? 'simulator' : 'device';
}

function fidelityRows(input: ReportInput): FidelityRow[] {
  const rows: FidelityRow[] = [...(input.fidelity ?? [])];
  for (const ev of input.evaluations ?? []) {
    const a = ev.metrics.agreement;
    if (a && !rows.some((r) => r.from === ev.label && r.to === a.reference)) rows.push({ from: ev.label, to: a.reference, n: a.n, top1: a.top1 });
  }
  const h = input.hil;
  if (h) {
    const who = hilTarget(input) === 'simulator' ? 'simulator' : 'device';
    if (h.vsLitert) rows.push({ from: who, to: 'int8 LiteRT', ...h.vsLitert });
    for (const [rounding, s] of Object.entries(h.vsSimulator ?? {})) {
      if (s && who === 'device') rows.push({ from: 'device', to: `simulator (${rounding} rounding)`, ...s });
    }
  }
  return rows;
}

export async function fidelityBlock(input: ReportInput): Promise<string> {
  const rows = fidelityRows(input);
  if (rows.length === 0) return '';
  const t = table(
    ['compared', 'with', 'images', 'top-1 agreement', 'values within ±1 LSB', 'max |Δ| LSB', 'mean |Δ| LSB'],
    rows.map((r) => [e(r.from), e(r.to), String(r.n), `<b>${pct(r.top1, 2)}</b>`, pct(r.within1, 2), r.maxAbs === undefined ? '–' : String(r.maxAbs), num(r.meanAbs, 3)]),
    'pairs',
  );
  const figs: Figure[] = [
    {
      caption: 'Top-1 agreement along the chain float → int8 → device',
      spec: {
        width: 320,
        height: { step: 26 },
        data: { values: rows.map((r) => ({ pair: `${r.from} vs ${r.to}`, top1: r.top1 })) },
        layer: [
          { mark: 'bar', encoding: { y: { field: 'pair', type: 'nominal', sort: null, title: null, axis: { labelLimit: 360 } }, x: { field: 'top1', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' }, title: 'top-1 agreement' } } },
          { mark: { type: 'text', align: 'right', dx: -4, color: 'white' }, encoding: { y: { field: 'pair', type: 'nominal', sort: null }, x: { field: 'top1', type: 'quantitative' }, text: { field: 'top1', type: 'quantitative', format: '.2%' } } },
        ],
      },
    },
  ];
  const hist = rows.filter((r) => r.histogram && Object.keys(r.histogram).length > 0);
  if (hist.length) {
    const buckets = Object.keys(hist[0]!.histogram!);
    const values = hist.flatMap((r) => {
      const total = Object.values(r.histogram!).reduce((a, b) => a + b, 0) || 1;
      return Object.entries(r.histogram!).map(([bucket, count]) => ({ pair: `${r.from} vs ${r.to}`, bucket, share: count / total }));
    });
    figs.push({
      caption: 'Output score differences in LSB (share of all output values)',
      spec: {
        width: 320,
        height: { step: 26 },
        data: { values },
        transform: [{ calculate: `indexof(${JSON.stringify(buckets)}, datum.bucket)`, as: 'bucketOrder' }],
        mark: 'bar',
        encoding: {
          y: { field: 'pair', type: 'nominal', title: null, axis: { labelLimit: 360 } },
          x: { field: 'share', type: 'quantitative', stack: 'normalize', axis: { format: '%' }, title: 'share of values' },
          color: { field: 'bucket', type: 'ordinal', sort: buckets, title: '|Δ| LSB', scale: { scheme: 'greenblue', reverse: true } },
          order: { field: 'bucketOrder' },
        },
      },
    });
  }
  let extra = '';
  if (input.hil?.roundingMatched) extra = `<p>The device matched the simulator's <b>${e(input.hil.roundingMatched)}</b> requantization rounding.</p>`;
  return section('fidelity', 'Fidelity: float → int8 → device', t + extra + (await figures(figs)));
}

export async function modelBlock(m: ModelSection): Promise<string> {
  const q = (t: ModelSection['inputs']) =>
    (t ?? [])
      .map((x) => `${e(x.type)} [${x.shape.join('×')}]${x.quantization?.scale.length ? ` scale ${x.quantization.scale[0]!.toPrecision(6)}, zero point ${x.quantization.zeroPoint[0]}` : ''}`)
      .join('; ') || '–';
  const facts = [
    ['file', m.path ? `<code>${e(m.path)}</code>` : '–'],
    ['size', bytes(m.fileBytes)],
    ['constant data', bytes(m.weightBytes?.total)],
    ['arena estimate (greedy plan of activations)', bytes(m.arena?.peakBytes)],
    ['input', q(m.inputs)],
    ['output', q(m.outputs)],
    ...(m.sha256 ? [['SHA-256', `<code>${e(m.sha256)}</code>`]] : []),
  ];
  const ops = table(['op', 'count'], m.ops.map((o) => [`<code>${e(o.op)}</code>`, String(o.count)]), 'ops');
  const chart = await figures([
    {
      caption: 'Operators in the model',
      spec: {
        width: 260,
        height: { step: 20 },
        data: { values: m.ops },
        mark: 'bar',
        encoding: {
          y: { field: 'op', type: 'nominal', sort: '-x', title: null },
          x: { field: 'count', type: 'quantitative', title: 'count' },
        },
      },
    },
  ]);
  return section(
    'model',
    'Model: int8 .tflite',
    `<div class="row">${table(['', ''], facts.map(([k, v]) => [k!, v!]), 'kv')}${ops}${chart}</div>`,
  );
}

export async function hilBlock(input: ReportInput): Promise<string> {
  const h = input.hil!;
  const t = h.timing;
  const target = hilTarget(input);
  const facts = [
    ['target', e(target) + (h.device?.link ? ` <code>${e(h.device.link)}</code>` : '')],
    ...(h.device?.firmware ? [['firmware', e(h.device.firmware)]] : []),
    ['images', String(h.n)],
    ['throughput', `${num(t.imagesPerSecond, 2)} images/s`],
    ['invoke time', `mean ${num(t.invokeUsMean / 1000, 2)} ms, p95 ${num(t.invokeUsP95 / 1000, 2)} ms`],
    ...(t.baud ? [['link', `${t.baud.toLocaleString('en-US')} baud${t.linkUtilisation != null ? `, ${pct(t.linkUtilisation)} of its byte rate used` : ''}`]] : []),
    ...(h.device?.arenaUsedBytes ? [['arena used on the device', bytes(h.device.arenaUsedBytes)]] : []),
    ...(h.link ? [['link events', `${h.link.retries ?? 0} retries, ${h.link.resets ?? 0} resets, ${h.link.framesRejected ?? 0} frames rejected, ${h.link.reconnects ?? 0} reconnects`]] : []),
  ];
  const figs: Figure[] = [];
  if (h.invokeUs && h.invokeUs.length > 1) {
    figs.push({
      caption: 'Invoke time per image',
      spec: {
        width: 320,
        height: 160,
        data: { values: h.invokeUs.map((us) => ({ ms: us / 1000 })) },
        mark: 'bar',
        encoding: {
          x: { field: 'ms', type: 'quantitative', bin: { maxbins: 30 }, title: 'invoke time (ms)' },
          y: { aggregate: 'count', type: 'quantitative', title: 'images' },
        },
      },
    });
  } else {
    figs.push({
      caption: 'Invoke time',
      spec: {
        width: 260,
        height: { step: 26 },
        data: { values: [{ stat: 'mean', ms: t.invokeUsMean / 1000 }, { stat: 'p95', ms: t.invokeUsP95 / 1000 }] },
        mark: 'bar',
        encoding: { y: { field: 'stat', type: 'nominal', title: null }, x: { field: 'ms', type: 'quantitative', title: 'invoke time (ms)' } },
      },
    });
  }
  return section(
    'hil',
    `Hardware in the loop (${target})`,
    `<div class="row">${table(['', ''], facts.map(([k, v]) => [k!, v!]), 'kv')}${await figures(figs)}</div>`,
  );
}
