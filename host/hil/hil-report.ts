/** The HIL report: the JSON document assembled from the journal, and its Markdown rendering. */
import type { ManifestItem } from '../data/manifest.ts';
import { computeMetrics, agreement, argmax, type EvalMetrics } from '../shared/metrics.ts';
import type { InfoMessage } from '../link/messages.ts';
import { ROUNDINGS, type Rounding } from '../link/sim-process.ts';
import type { HilOptions } from './options.ts';
import type { Journal, ResultEntry } from './journal.ts';
import { lsbStats, matchedRounding, timing, type DumpReport, type HilTiming, type LsbStats } from './stats.ts';

export const REPORT_SCHEMA = 'plastisort.hil-report/1';

export interface HilReport {
  schema: typeof REPORT_SCHEMA;
  createdAt: string;
  model: { path: string; sha256: string; inputSize: number };
  manifest: { path: string; sha256: string; split: string };
  device: { link: string; firmware: string; bootId: number; arenaUsedBytes: number; labels: string[] };
  n: number;
  metrics: { device: EvalMetrics; float?: EvalMetrics; litert?: EvalMetrics; simulator?: Partial<Record<Rounding, EvalMetrics>> };
  vsLitert?: LsbStats;
  vsSimulator?: Partial<Record<Rounding, LsbStats>>;
  /** Each simulator variant against LiteRT int8 (simulator − LiteRT): how close the kernels are to an official runtime. */
  simulatorVsLitert?: Partial<Record<Rounding, LsbStats>>;
  roundingMatched: string;
  timing: HilTiming;
  link: { retries: number; resets: number; framesRejected: number; reconnects: number };
  dumps: DumpReport[];
}

export interface ReportInputs {
  o: HilOptions;
  items: ManifestItem[];
  journal: Journal;
  classes: string[];
  modelSha: string;
  manifestSha: string;
  size: number;
  /** HELLO answer of the last device connection; null when this session did not connect. */
  lastInfo: InfoMessage | null;
  complete: boolean;
}

/** The report of the journal's results, with the reference comparisons once the run is complete; `dumps` is left empty. */
export function buildReport({ o, items, journal, classes, modelSha, manifestSha, size, lastInfo, complete }: ReportInputs): HilReport {
  const results = journal.results();
  const dumps: DumpReport[] = [];
  const ordered = items.map((_, i) => results.get(i)).filter((r): r is ResultEntry => !!r);
  const yTrue = ordered.map((r) => r.label);
  const devScores = ordered.map((r) => r.scores);
  const report: HilReport = {
    schema: REPORT_SCHEMA,
    createdAt: new Date().toISOString(),
    model: { path: o.model, sha256: modelSha, inputSize: size },
    manifest: { path: o.manifest, sha256: manifestSha, split: o.split },
    device: {
      link: o.sim ? `sorter-sim (${o.simRounding ?? 'double'} rounding) on a pseudo-terminal` : o.port!,
      firmware: lastInfo?.firmwareVersion ?? '(not connected in this session)',
      bootId: lastInfo?.bootId ?? 0,
      arenaUsedBytes: lastInfo?.arenaUsedBytes ?? 0,
      labels: lastInfo?.labels ?? [],
    },
    n: ordered.length,
    metrics: { device: computeMetrics(yTrue, ordered.map((r) => r.classIndex), classes, { bootstrap: 200 }) },
    roundingMatched: 'unknown (no simulator comparison)',
    timing: timing(ordered, journal.sessions(), size),
    link: journal.sessions().reduce(
      (a, s) => ({ retries: a.retries + s.retries, resets: a.resets + s.resets, framesRejected: a.framesRejected + s.framesRejected, reconnects: a.reconnects + s.reconnects }),
      { retries: 0, resets: 0, framesRejected: 0, reconnects: 0 },
    ),
    dumps,
  };
  if (complete && o.references) {
    const lite = journal.refs('litert');
    if (lite.size === items.length) {
      const ls = items.map((_, i) => lite.get(i)!.scores);
      report.metrics.litert = computeMetrics(yTrue, ls.map(argmax), classes, { bootstrap: 200 });
      report.metrics.litert.agreement = { reference: 'device', n: ls.length, top1: agreement(ls.map(argmax), ordered.map((r) => r.classIndex)) };
      report.vsLitert = lsbStats(devScores, ls);
    }
    const fl = journal.refs('float');
    if (o.run && fl.size === items.length) {
      const fp = items.map((_, i) => argmax(fl.get(i)!.scores));
      report.metrics.float = computeMetrics(yTrue, fp, classes, { bootstrap: 200 });
      report.metrics.float.agreement = { reference: 'device', n: fp.length, top1: agreement(fp, ordered.map((r) => r.classIndex)) };
    }
    report.metrics.simulator = {};
    report.vsSimulator = {};
    const liteScores = lite.size === items.length ? items.map((_, i) => lite.get(i)!.scores) : null;
    if (liteScores) report.simulatorVsLitert = {};
    for (const r of ROUNDINGS) {
      const m = journal.refs(`sim-${r}`);
      if (m.size !== items.length) continue;
      const ss = items.map((_, i) => m.get(i)!.scores);
      report.metrics.simulator[r] = computeMetrics(yTrue, ss.map(argmax), classes, { bootstrap: 0 });
      report.vsSimulator[r] = lsbStats(devScores, ss);
      if (liteScores) report.simulatorVsLitert![r] = lsbStats(ss, liteScores);
    }
    report.roundingMatched = matchedRounding(report.vsSimulator);
  }
  return report;
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
const variantName = (k: Rounding) => (k === 'xnnpack' ? 'xnnpack arithmetic' : `${k} rounding`);

export function reportMarkdown(r: HilReport): string {
  const L: string[] = [];
  L.push(`# Hardware-in-the-loop report`, '');
  L.push(`Model \`${r.model.path}\` (SHA-256 \`${r.model.sha256.slice(0, 16)}…\`, ${r.model.inputSize}×${r.model.inputSize}), split **${r.manifest.split}** of \`${r.manifest.path}\`, ${r.n} images.`);
  L.push(`Device: ${r.device.link}; firmware "${r.device.firmware}"; arena ${r.device.arenaUsedBytes} bytes.`, '');
  L.push('## Accuracy', '', '| predictor | accuracy | macro F1 | top-1 agreement with device |', '|---|---|---|---|');
  L.push(`| device | ${pct(r.metrics.device.accuracy)} | ${r.metrics.device.macro.f1.toFixed(4)} | — |`);
  const f = r.metrics.float;
  if (f) L.push(`| desktop float | ${pct(f.accuracy)} | ${f.macro.f1.toFixed(4)} | ${pct(f.agreement?.top1 ?? 0)} |`);
  if (r.metrics.litert && r.vsLitert) L.push(`| desktop int8 (LiteRT) | ${pct(r.metrics.litert.accuracy)} | ${r.metrics.litert.macro.f1.toFixed(4)} | ${pct(r.vsLitert.top1)} |`);
  for (const k of ROUNDINGS) {
    const m = r.metrics.simulator?.[k];
    const v = r.vsSimulator?.[k];
    if (m && v) L.push(`| simulator (${variantName(k)}) | ${pct(m.accuracy)} | ${m.macro.f1.toFixed(4)} | ${pct(v.top1)} |`);
  }
  L.push('', f ? '' : 'Desktop float: not measured (give --run with the trained run folder).', '');
  L.push('## Score differences (int8 LSB, device − reference)', '', '| reference | bit-exact images | values within ±1 LSB | max abs Δ | mean abs Δ | abs Δ = 0 / 1 / 2–3 / ≥4 |', '|---|---|---|---|---|---|');
  const row = (name: string, s?: LsbStats) => {
    if (s) L.push(`| ${name} | ${s.exactImages}/${s.n} | ${pct(s.within1)} | ${s.maxAbs} | ${s.meanAbs.toFixed(4)} | ${s.histogram['0']} / ${s.histogram['1']} / ${s.histogram['2-3']} / ${s.histogram['4+']} |`);
  };
  row('LiteRT int8', r.vsLitert);
  for (const k of ROUNDINGS) row(`simulator, ${variantName(k)}`, r.vsSimulator?.[k]);
  L.push('', `Simulator variant the device matched (double, single or xnnpack): **${r.roundingMatched}**.`, '');
  if (r.simulatorVsLitert && Object.keys(r.simulatorVsLitert).length) {
    L.push('## Simulator vs LiteRT int8 (int8 LSB, simulator − LiteRT)', '');
    L.push('The device\'s arithmetic is TFLM\'s double rounding (esp-tflite-micro does not set TFLITE_SINGLE_ROUNDING and ESP-NN\'s CONFIG_NN_SKIP_NUDGE is off by default); LiteRT requantizes in float through XNNPACK. The double-rounding row is therefore the distance between desktop float requantization and the device, not a kernel error. The xnnpack variant reproduces LiteRT\'s arithmetic, so its agreement checks the simulator\'s kernels against an official runtime; no device computes it.', '');
    L.push('| simulator variant | top-1 agreement | bit-exact images | values within ±1 LSB | max abs Δ |', '|---|---|---|---|---|');
    for (const k of ROUNDINGS) {
      const s = r.simulatorVsLitert[k];
      if (s) L.push(`| ${variantName(k)} | ${pct(s.top1)} | ${s.exactImages}/${s.n} | ${pct(s.within1)} | ${s.maxAbs} |`);
    }
    L.push('');
  }
  const t = r.timing;
  L.push('## Speed and link', '');
  L.push(`- invoke time: mean ${(t.invokeUsMean / 1000).toFixed(2)} ms, p95 ${(t.invokeUsP95 / 1000).toFixed(2)} ms`);
  L.push(`- ${t.images} images streamed in ${t.seconds.toFixed(1)} s: ${t.imagesPerSecond.toFixed(3)} images/s, ${Math.round(t.wireBytesPerImage)} bytes sent per image`);
  L.push(
    t.linkUtilisation !== null
      ? `- link: ${t.baud} baud = ${t.linkBytesPerSecond} bytes/s; utilisation ${pct(t.linkUtilisation)}`
      : '- link: unthrottled or unknown line rate (give --baud); utilisation not computed',
  );
  L.push(`- retries ${r.link.retries}, device resets seen ${r.link.resets}, rejected frames ${r.link.framesRejected}, reconnects ${r.link.reconnects}`, '');
  if (r.dumps.length) {
    L.push('## Layer dumps', '');
    for (const d of r.dumps) {
      L.push(`### ${d.item}`, '', `Picked because: ${d.reason}. ${d.tensors} tensors compared with the simulator (${variantName(d.simulatorRounding)}).`, '');
      L.push(d.firstDifferingLayer ? `**First differing layer: #${d.firstDifferingLayer.index} \`${d.firstDifferingLayer.name}\`** (${d.firstDifferingLayer.differing}/${d.firstDifferingLayer.length} values differ, max abs Δ ${d.firstDifferingLayer.maxAbs}).` : 'Every tensor is bit-identical to the simulator.', '');
    }
  }
  return L.join('\n') + '\n';
}
