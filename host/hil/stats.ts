/** Comparisons of the HIL run: score differences in int8 LSB, layer dumps, and link timing. */
import { argmax } from '../shared/metrics.ts';
import type { DumpedTensor } from '../link/client.ts';
import { ROUNDINGS, type Rounding } from '../link/sim-process.ts';
import { wireSize } from '../link/protocol.ts';
import type { ResultEntry, SessionEntry } from './journal.ts';

export interface LsbStats {
  n: number;
  top1: number;
  exactImages: number;
  /** Share of all score values with |a − b| ≤ 1. */
  within1: number;
  maxAbs: number;
  meanAbs: number;
  histogram: { '0': number; '1': number; '2-3': number; '4+': number };
}

export interface LayerDiff {
  index: number;
  name: string;
  length: number;
  differing: number;
  maxAbs: number;
}

export interface DumpReport {
  item: string;
  reason: string;
  simulatorRounding: Rounding;
  tensors: number;
  firstDifferingLayer: LayerDiff | null;
  layers: LayerDiff[];
}

export interface HilTiming {
  invokeUsMean: number;
  invokeUsP95: number;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  wireBytesPerImage: number;
  baud: number;
  linkBytesPerSecond: number | null;
  linkUtilisation: number | null;
}

export function lsbStats(a: number[][], b: number[][]): LsbStats {
  const h = { '0': 0, '1': 0, '2-3': 0, '4+': 0 };
  let values = 0;
  let sumAbs = 0;
  let maxAbs = 0;
  let within = 0;
  let exact = 0;
  let sameTop = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    let imgExact = true;
    for (let k = 0; k < x.length; k++) {
      const d = Math.abs(x[k]! - (y[k] ?? 0));
      values++;
      sumAbs += d;
      if (d > maxAbs) maxAbs = d;
      if (d <= 1) within++;
      if (d !== 0) imgExact = false;
      if (d === 0) h['0']++;
      else if (d === 1) h['1']++;
      else if (d <= 3) h['2-3']++;
      else h['4+']++;
    }
    if (imgExact) exact++;
    if (argmax(x) === argmax(y)) sameTop++;
  }
  return {
    n: a.length,
    top1: a.length ? sameTop / a.length : 0,
    exactImages: exact,
    within1: values ? within / values : 0,
    maxAbs,
    meanAbs: values ? sumAbs / values : 0,
    histogram: h,
  };
}

export function compareDumps(device: DumpedTensor[], sim: DumpedTensor[]): LayerDiff[] {
  const n = Math.min(device.length, sim.length);
  const out: LayerDiff[] = [];
  for (let i = 0; i < n; i++) {
    const d = device[i]!.data;
    const s = sim[i]!.data;
    let differing = Math.abs(d.length - s.length);
    let maxAbs = 0;
    for (let k = 0; k < Math.min(d.length, s.length); k++) {
      const x = Math.abs(d[k]! - s[k]!);
      if (x) {
        differing++;
        if (x > maxAbs) maxAbs = x;
      }
    }
    out.push({ index: i, name: device[i]!.name || sim[i]!.name, length: d.length, differing, maxAbs });
  }
  return out;
}

function percentile(sorted: number[], q: number): number {
  if (!sorted.length) return 0;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx]!;
}

/** Which simulator variant the device's scores equal on every image ('double', 'single' or 'xnnpack'). */
export function matchedRounding(v: Partial<Record<Rounding, LsbStats>>): string {
  const exact = ROUNDINGS.filter((r) => v[r] && v[r]!.exactImages === v[r]!.n);
  if (exact.length > 1) return `${exact.join(' and ')} (these variants give identical outputs on this split)`;
  if (exact.length === 1) return exact[0]!;
  const avail = ROUNDINGS.filter((r) => v[r]);
  if (!avail.length) return 'unknown (no simulator comparison)';
  const best = avail.reduce((a, b) => (v[a]!.exactImages >= v[b]!.exactImages ? a : b));
  return `no variant exactly (closest: ${best}, ${v[best]!.exactImages}/${v[best]!.n} images bit-exact)`;
}

export function timing(ordered: ResultEntry[], sessions: SessionEntry[], size: number): HilTiming {
  const inv = ordered.map((r) => r.invokeUs).sort((a, b) => a - b);
  const images = sessions.reduce((a, s) => a + s.images, 0);
  const seconds = sessions.reduce((a, s) => a + s.seconds, 0);
  const bytes = sessions.reduce((a, s) => a + s.bytesSent, 0);
  const baud = sessions.at(-1)?.baud ?? 0;
  const ips = seconds > 0 ? images / seconds : 0;
  const perImage = images ? bytes / images : wireSize(size * size * 3);
  const linkRate = baud > 0 ? baud / 10 : null;
  return {
    invokeUsMean: inv.length ? inv.reduce((a, b) => a + b, 0) / inv.length : 0,
    invokeUsP95: percentile(inv, 0.95),
    images,
    seconds,
    imagesPerSecond: ips,
    wireBytesPerImage: perImage,
    baud,
    linkBytesPerSecond: linkRate,
    linkUtilisation: linkRate ? (ips * perImage) / linkRate : null,
  };
}
