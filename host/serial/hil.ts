/**
 * Hardware-in-the-loop accuracy run (`plastisort hil`): streams a manifest split to a board (or to
 * sorter-sim on a pseudo-terminal), journals every result so an interrupted run resumes, then compares
 * the device with desktop int8 (LiteRT) and with the int8 reference simulator in its three arithmetic
 * variants (TFLM double and single rounding, and LiteRT's XNNPACK arithmetic), reports how close each
 * simulator variant is to LiteRT, and for disagreeing images names the first layer where device and
 * simulator differ.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { readTflite, getPlastisortMetadata } from '../tflite/reader.ts';
import { loadLiteRtModel } from '../tflite/litert.ts';
import { readManifest } from '../data/manifest-io.ts';
import { loadImageRgb, manifestItemPath, type ResizePolicy } from '../data/images.ts';
import type { ManifestItem, SplitName } from '../data/manifest.ts';
import { computeMetrics, agreement, argmax, type EvalMetrics } from '../eval/metrics.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { progressBar } from '../util/progress.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.ts';
import { SorterClient, TimeoutError, DeviceError, type DumpedTensor } from './client.ts';
import { LinkClosedError, childTransport, openSerialTransport, type Transport } from './transport.ts';
import { ROUNDINGS, startPtySim, startStdioSim, stopChild, type PtySim, type Rounding } from './sim.ts';
import type { InfoMessage } from './messages.ts';
import { wireSize } from './protocol.ts';

export const JOURNAL_SCHEMA = 'plastisort.hil-journal/1';
export const REPORT_SCHEMA = 'plastisort.hil-report/1';

export interface HilOptions {
  model: string;
  manifest: string;
  split: SplitName;
  /** Serial port of the board; exclusive with `sim`. */
  port?: string;
  /** Run against sorter-sim on a pseudo-terminal instead of a board. */
  sim?: boolean;
  simRounding?: Rounding;
  /** Line rate: the board's UART, or the simulator's throttle. 0 = unthrottled (pty) / unknown. */
  baud: number;
  journal?: string;
  out: string;
  dump: number;
  window: number;
  timeoutMs: number;
  retries: number;
  /** Compare against the simulator (every arithmetic variant) and LiteRT. */
  references: boolean;
  /** Trained run folder: adds desktop float metrics and the device's top-1 agreement with them. */
  run?: string;
  /** Stop the device phase after this many new results (tests; simulates an interruption). */
  limit?: number;
  /** Called with the simulator's pid each time one starts (tests kill it). */
  onSimStarted?: (pid: number, ptyPath: string) => void;
}

interface ResultEntry {
  kind: 'result';
  i: number;
  path: string;
  label: number;
  classIndex: number;
  scores: number[];
  invokeUs: number;
}
interface RefEntry {
  kind: 'litert' | `sim-${Rounding}` | 'float';
  i: number;
  scores: number[];
}
interface SessionEntry {
  kind: 'session';
  at: string;
  images: number;
  seconds: number;
  bytesSent: number;
  bytesReceived: number;
  baud: number;
  retries: number;
  resets: number;
  framesRejected: number;
  reconnects: number;
}
type JournalEntry = ResultEntry | RefEntry | SessionEntry | { kind: 'header'; [k: string]: unknown };

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
  timing: {
    invokeUsMean: number;
    invokeUsP95: number;
    images: number;
    seconds: number;
    imagesPerSecond: number;
    wireBytesPerImage: number;
    baud: number;
    linkBytesPerSecond: number | null;
    linkUtilisation: number | null;
  };
  link: { retries: number; resets: number; framesRejected: number; reconnects: number };
  dumps: DumpReport[];
}

function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function toTensor(rgb: Uint8Array): Int8Array {
  const q = new Int8Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) q[i] = rgb[i]! - 128;
  return q;
}

// ------------------------------------------------------------------ journal

class Journal {
  readonly entries: JournalEntry[] = [];
  constructor(readonly path: string) {}

  static open(path: string, header: Record<string, unknown>): Journal {
    const j = new Journal(path);
    if (existsSync(path)) {
      const lines = readFileSync(path, 'utf8').split('\n');
      lines.forEach((line, n) => {
        if (!line.trim()) return;
        try {
          j.entries.push(JSON.parse(line) as JournalEntry);
        } catch {
          // A line cut by a crash mid-write: only the last line can be partial.
          if (n < lines.length - 2) throw new UserError(`${path}:${n + 1}: not a JSON line; delete the journal to start over`);
        }
      });
      const h = j.entries[0];
      if (!h || h.kind !== 'header' || h.schema !== JOURNAL_SCHEMA) {
        throw new UserError(`${path}: not a plastisort HIL journal; delete it or choose another --journal`);
      }
      for (const k of ['modelSha256', 'manifestSha256', 'split']) {
        if (h[k] !== header[k]) {
          throw new UserError(`${path}: journal was written for another ${k} (${String(h[k])}); delete it or choose another --journal to start a new run`);
        }
      }
      // Rewrite without a partial last line so appends start on a fresh line.
      writeFileSync(path, j.entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
    } else {
      mkdirSync(dirname(path), { recursive: true });
      const h = { kind: 'header' as const, schema: JOURNAL_SCHEMA, ...header };
      writeFileSync(path, JSON.stringify(h) + '\n');
      j.entries.push(h);
    }
    return j;
  }

  append(e: JournalEntry): void {
    // One appendFileSync per line: a crash loses at most the line being written.
    appendFileSync(this.path, JSON.stringify(e) + '\n');
    this.entries.push(e);
  }

  results(): Map<number, ResultEntry> {
    const m = new Map<number, ResultEntry>();
    for (const e of this.entries) if (e.kind === 'result') m.set(e.i, e);
    return m;
  }

  refs(kind: RefEntry['kind']): Map<number, RefEntry> {
    const m = new Map<number, RefEntry>();
    for (const e of this.entries) if (e.kind === kind) m.set(e.i, e as RefEntry);
    return m;
  }

  sessions(): SessionEntry[] {
    return this.entries.filter((e): e is SessionEntry => e.kind === 'session');
  }
}

// ------------------------------------------------------------------ image prefetch

class ImageSource {
  private readonly cache = new Map<number, Promise<Int8Array>>();
  constructor(
    private readonly items: ManifestItem[],
    private readonly abs: (it: ManifestItem) => string,
    private readonly size: number,
    private readonly resize: ResizePolicy,
  ) {}
  get(i: number): Promise<Int8Array> {
    let p = this.cache.get(i);
    if (!p) {
      p = loadImageRgb(this.abs(this.items[i]!), this.size, this.resize).then(toTensor);
      this.cache.set(i, p);
    }
    return p;
  }
  forget(i: number): void {
    this.cache.delete(i);
  }
  path(i: number): string {
    return this.abs(this.items[i]!);
  }
}

// ------------------------------------------------------------------ device connection

interface Connection {
  client: SorterClient;
  info: InfoMessage;
  sim?: PtySim;
  close(): Promise<void>;
}

async function connect(o: HilOptions, modelSha: string, reconnecting = false): Promise<Connection> {
  let sim: PtySim | undefined;
  let transport: Transport;
  if (o.sim) {
    sim = await startPtySim({ model: resolve(o.model), rounding: o.simRounding ?? 'double', baud: o.baud });
    o.onSimStarted?.(sim.child.pid!, sim.ptyPath);
    log.info(`hil: sorter-sim pid ${sim.child.pid} on ${sim.ptyPath}${o.baud ? ` at ${o.baud} baud` : ''}`);
    transport = await openSerialTransport(sim.ptyPath, o.baud || 921_600);
    // The pty stays up while the simulator holds it; its exit is the "device gone" signal.
    const t = transport;
    sim.child.once('exit', () => void t.close());
  } else {
    // After a reset a USB device may take a few seconds to re-enumerate: keep trying when reconnecting.
    const deadline = Date.now() + (reconnecting ? 15_000 : 0);
    for (;;) {
      try {
        transport = await openSerialTransport(o.port!, o.baud || 921_600);
        break;
      } catch (e) {
        if (!(e instanceof UserError) || Date.now() >= deadline) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
  const client = new SorterClient(transport, { timeoutMs: o.timeoutMs, retries: o.retries, baud: o.baud });
  try {
    const info = await client.handshake(modelSha);
    return {
      client,
      info,
      ...(sim ? { sim } : {}),
      async close() {
        await client.close();
        if (sim) await sim.stop();
      },
    };
  } catch (e) {
    await client.close();
    if (sim) await sim.stop();
    throw e;
  }
}

// ------------------------------------------------------------------ comparisons

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

// ------------------------------------------------------------------ main flow

export async function runHil(o: HilOptions): Promise<{ report: HilReport; reportPath: string; complete: boolean }> {
  if (!!o.port === !!o.sim) throw new UserError('give exactly one of --port PATH or --sim');
  if (!Number.isInteger(o.window) || o.window < 1) throw new UserError(`--window ${o.window}: must be a whole number ≥ 1`);
  let modelBytes: Uint8Array;
  try {
    modelBytes = new Uint8Array(await readFile(o.model));
  } catch (e) {
    throw new UserError(`--model ${o.model}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)}); check the path`);
  }
  const modelSha = sha256Hex(modelBytes);
  const meta = getPlastisortMetadata(readTflite(modelBytes, o.model));
  if (!meta) throw new UserError(`${o.model}: no plastisort metadata (labels, input size); create the model with plastisort quantize`);
  const { manifest, sha256: manifestSha } = await readManifest(o.manifest);
  if (manifest.classes.join('\n') !== meta.labels.join('\n')) {
    throw new UserError(`${o.model}: model labels [${meta.labels.join(', ')}] differ from the manifest classes [${manifest.classes.join(', ')}]; use the manifest the model was trained on`);
  }
  const items = manifest.items.filter((it) => it.split === o.split);
  if (!items.length) throw new UserError(`${o.manifest}: split "${o.split}" has no items; choose --split train, val or test`);
  const size = meta.inputSize;
  const images = new ImageSource(items, (it) => manifestItemPath(manifest, it), size, meta.resize);
  const journalPath = resolve(o.journal ?? resolve(o.out, 'journal.jsonl'));
  const journal = Journal.open(journalPath, {
    modelSha256: modelSha,
    manifestSha256: manifestSha,
    split: o.split,
    model: resolve(o.model),
    manifest: resolve(o.manifest),
    createdAt: new Date().toISOString(),
  });
  const done = journal.results();
  if (done.size) log.info(`hil: resuming from ${journalPath}: ${done.size}/${items.length} results already there`);

  // ---------------- device phase
  const todo = items.map((_, i) => i).filter((i) => !done.has(i));
  let conn: Connection | null = null;
  let lastInfo: InfoMessage | null = null;
  let reconnects = 0;
  const session = { images: 0, bytesSent: 0, bytesReceived: 0, retries: 0, resets: 0, framesRejected: 0, ms: 0 };
  const harvest = (c: Connection) => {
    session.bytesSent += c.client.stats.bytesSent;
    session.bytesReceived += c.client.stats.bytesReceived;
    session.retries += c.client.stats.retries;
    session.resets += c.client.stats.resets;
    session.framesRejected += c.client.stats.framesRejected;
  };
  const wantNew = o.limit ?? Infinity;
  let complete = true;
  if (todo.length) {
    const bar = progressBar(`hil ${o.split}`, todo.length);
    let queue = [...todo];
    // Streaming time starts once the first device answered HELLO: simulator start-up and model load
    // are not link time. Reconnections during the run count.
    let t0 = 0;
    try {
      while (queue.length && session.images < wantNew) {
        if (!conn) {
          conn = await connect(o, modelSha, reconnects > 0);
          lastInfo = conn.info;
          if (!t0) t0 = Date.now();
          if (conn.info.width !== size || conn.info.height !== size || conn.info.channels !== 3) {
            throw new UserError(`${conn.client.description}: device input is ${conn.info.width}x${conn.info.height}x${conn.info.channels}, the model's is ${size}x${size}x3`);
          }
        }
        const c = conn;
        const failed: number[] = [];
        let linkError: Error | null = null;
        // Pipelining: keep `window` requests in flight, so the next image is on the wire while the
        // device computes the current one; answers come back in order.
        let next = 0;
        const inflight = new Set<Promise<void>>();
        const startOne = (i: number) => {
          const p = (async () => {
            const tensor = await images.get(i);
            const r = await c.client.infer(tensor);
            images.forget(i);
            journal.append({ kind: 'result', i, path: items[i]!.path, label: items[i]!.label, classIndex: r.classIndex, scores: Array.from(r.scores), invokeUs: r.invokeUs });
            session.images++;
            bar.tick();
          })().catch((e: Error) => {
            failed.push(i);
            if (!linkError) linkError = e;
          });
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
          // Prefetch the image after this one so decoding overlaps the transfer.
          if (queue[next] !== undefined) void images.get(queue[next]!).catch(() => {});
        };
        while (next < queue.length && !linkError && session.images + inflight.size < wantNew) {
          while (inflight.size < o.window && next < queue.length && !linkError && session.images + inflight.size < wantNew) startOne(queue[next++]!);
          if (inflight.size) await Promise.race(inflight);
        }
        await Promise.all(inflight);
        queue = [...failed.sort((a, b) => a - b), ...queue.slice(next)];
        if (linkError) {
          const e = linkError as Error;
          harvest(c);
          await c.close().catch(() => {});
          conn = null;
          if (e instanceof UserError || e instanceof DeviceError) throw e;
          if (!(e instanceof LinkClosedError || e instanceof TimeoutError)) throw e;
          reconnects++;
          if (reconnects > 5) throw new UserError(`${o.sim ? 'sorter-sim' : o.port}: link lost ${reconnects} times (${e.message}); journal kept at ${journalPath}, re-run the same command to resume`);
          log.warn(`hil: ${e.message}; ${o.sim ? 'restarting the simulator' : 'reopening the port'} and resuming (${queue.length} images left)`);
          if (!o.sim) await new Promise((r) => setTimeout(r, 1000));
        }
      }
    } catch (e) {
      if (e instanceof UserError && !e.message.includes('journal')) {
        throw new UserError(`${e.message} (journal kept at ${journalPath})`, e.exitCode);
      }
      throw e;
    } finally {
      bar.stop();
      if (conn) {
        harvest(conn);
        await conn.close().catch(() => {});
        conn = null;
      }
      session.ms = t0 ? Date.now() - t0 : 0;
      if (session.images) {
        journal.append({
          kind: 'session',
          at: new Date().toISOString(),
          images: session.images,
          seconds: session.ms / 1000,
          bytesSent: session.bytesSent,
          bytesReceived: session.bytesReceived,
          baud: o.baud,
          retries: session.retries,
          resets: session.resets,
          framesRejected: session.framesRejected,
          reconnects,
        });
      }
    }
    complete = journal.results().size === items.length;
    if (!complete) log.info(`hil: stopped after ${session.images} new results; re-run to resume`);
  }
  const results = journal.results();

  // ---------------- references: LiteRT int8 and the simulator in each arithmetic variant
  if (o.references && complete) {
    await referencePass(o, journal, items, images, modelBytes, manifest.classes);
  }

  const dumps: DumpReport[] = [];

  // ---------------- report
  const ordered = items.map((_, i) => results.get(i)).filter((r): r is ResultEntry => !!r);
  const yTrue = ordered.map((r) => r.label);
  const classes = manifest.classes;
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
  if (o.dump > 0 && complete) {
    const m = /^(double|single|xnnpack)$|closest: (double|single|xnnpack)/.exec(report.roundingMatched);
    const rounding: Rounding = (m?.[1] ?? m?.[2] ?? (o.sim ? (o.simRounding ?? 'double') : 'double')) as Rounding;
    dumps.push(...(await dumpPass(o, journal, items, images, modelSha, rounding)));
  }
  const reportPath = resolve(o.out, 'hil-report.json');
  await writeJsonAtomic(reportPath, report);
  await writeFileAtomic(resolve(o.out, 'hil-report.md'), reportMarkdown(report));
  return { report, reportPath, complete };
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

function timing(ordered: ResultEntry[], sessions: SessionEntry[], size: number): HilReport['timing'] {
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

async function referencePass(o: HilOptions, journal: Journal, items: ManifestItem[], images: ImageSource, modelBytes: Uint8Array, classes: string[]): Promise<void> {
  if (o.run) {
    const have = journal.refs('float');
    const missing = items.map((_, i) => i).filter((i) => !have.has(i));
    if (missing.length) {
      const { createRunPredictor } = await import('../train/run.ts');
      const predictor = await createRunPredictor(o.run);
      if (predictor.classes.join('\n') !== classes.join('\n')) {
        await predictor.dispose?.();
        throw new UserError(`--run ${o.run}: its classes [${predictor.classes.join(', ')}] differ from the model's [${classes.join(', ')}]; pass the run the model was quantized from`);
      }
      const bar = progressBar('hil desktop float', missing.length);
      try {
        for (let k = 0; k < missing.length; k += 8) {
          const batch = missing.slice(k, k + 8);
          const rgb = await Promise.all(batch.map((i) => loadImageRgb(images.path(i), predictor.inputSize, predictor.resize)));
          const probs = await predictor.predict(rgb);
          batch.forEach((i, b) => journal.append({ kind: 'float', i, scores: Array.from(probs[b]!, (x) => Math.round(x * 1e6) / 1e6) }));
          bar.tick(batch.length);
        }
      } finally {
        bar.stop();
        await predictor.dispose?.();
      }
    }
  }
  const lite = journal.refs('litert');
  const missingLite = items.map((_, i) => i).filter((i) => !lite.has(i));
  if (missingLite.length) {
    const model = await loadLiteRtModel(modelBytes, o.model);
    const bar = progressBar('hil LiteRT int8', missingLite.length);
    try {
      for (const i of missingLite) {
        const [out] = await model.run([await images.get(i)]);
        journal.append({ kind: 'litert', i, scores: Array.from(out as Int8Array) });
        bar.tick();
      }
    } finally {
      bar.stop();
      model.dispose();
      for (const i of missingLite) images.forget(i);
    }
  }
  for (const r of ROUNDINGS) {
    const have = journal.refs(`sim-${r}`);
    const missing = items.map((_, i) => i).filter((i) => !have.has(i));
    if (!missing.length) continue;
    const child = startStdioSim({ model: resolve(o.model), rounding: r });
    const client = new SorterClient(childTransport(child, `sorter-sim --stdio (${r})`), { timeoutMs: 60_000, retries: 0 });
    const bar = progressBar(`hil simulator (${r})`, missing.length);
    try {
      await client.handshake();
      let k = 0;
      const inflight: Promise<void>[] = [];
      // The simulator buffers two requests: keep it busy while the next image decodes.
      for (const i of missing) {
        inflight.push(
          (async () => {
            const res = await client.infer(await images.get(i));
            journal.append({ kind: `sim-${r}`, i, scores: Array.from(res.scores) });
            images.forget(i);
            bar.tick();
          })(),
        );
        if (++k % 2 === 0) await Promise.all(inflight.splice(0));
      }
      await Promise.all(inflight);
    } finally {
      bar.stop();
      await client.close().catch(() => {});
      await stopChild(child);
    }
  }
}

async function dumpPass(o: HilOptions, journal: Journal, items: ManifestItem[], images: ImageSource, modelSha: string, deviceRounding: Rounding): Promise<DumpReport[]> {
  const results = journal.results();
  const lite = journal.refs('litert');
  const sameScores = (a?: number[], b?: number[]) => !!a && !!b && a.length === b.length && a.every((x, k) => x === b[k]);
  // Disagreement with the simulator in the rounding the device matched says most about a kernel; a
  // top-1 disagreement with LiteRT is next.
  const simFor = journal.refs(`sim-${deviceRounding}`);
  const picks: { i: number; reason: string }[] = [];
  for (let i = 0; i < items.length && picks.length < o.dump; i++) {
    const r = results.get(i)!;
    if (simFor.size && !sameScores(r.scores, simFor.get(i)?.scores)) picks.push({ i, reason: `scores differ from the simulator (${deviceRounding} rounding)` });
    else if (lite.size && lite.get(i) && argmax(lite.get(i)!.scores) !== r.classIndex) picks.push({ i, reason: 'top-1 differs from LiteRT int8' });
  }
  if (!picks.length) {
    // Nothing disagrees: dump the first image anyway, which checks every intermediate tensor.
    log.info('hil: --dump: no disagreeing image; dumping the first image as a check of every layer');
    picks.push({ i: 0, reason: 'no image disagrees; first image dumped as a check' });
  }
  const modelSha256 = modelSha;
  const out: DumpReport[] = [];
  const conn = await connect({ ...o, baud: o.baud }, modelSha256);
  const child = startStdioSim({ model: resolve(o.model), rounding: deviceRounding });
  const simClient = new SorterClient(childTransport(child, `sorter-sim --stdio (${deviceRounding})`), { timeoutMs: 120_000, retries: 0 });
  try {
    await simClient.handshake(modelSha256);
    for (const { i, reason } of picks) {
      const tensor = await images.get(i);
      log.info(`hil: dumping every tensor of ${items[i]!.path} from the device and the simulator`);
      const dev = await conn.client.dump(tensor);
      const sim = await simClient.dump(tensor);
      const layers = compareDumps(dev.tensors, sim.tensors);
      out.push({
        item: items[i]!.path,
        reason,
        simulatorRounding: deviceRounding,
        tensors: dev.tensors.length,
        firstDifferingLayer: layers.find((l) => l.differing > 0) ?? null,
        layers,
      });
    }
  } catch (e) {
    if (e instanceof DeviceError) throw new UserError(`--dump: ${e.message}`);
    throw e;
  } finally {
    await simClient.close().catch(() => {});
    await stopChild(child);
    await conn.close().catch(() => {});
  }
  return out;
}

// ------------------------------------------------------------------ Markdown

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
