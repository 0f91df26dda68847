/**
 * The device phase of a HIL run: connects to the board (or sorter-sim on a pseudo-terminal), streams
 * the images not yet in the journal with several requests in flight, and reconnects when the link drops.
 */
import { resolve } from 'node:path';
import { loadImageRgb, type ResizePolicy } from '../data/images.ts';
import type { ManifestItem } from '../data/manifest.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { progressBar } from '../util/progress.ts';
import { SorterClient, TimeoutError, DeviceError } from '../link/client.ts';
import { LinkClosedError, openSerialTransport, type Transport } from '../link/port.ts';
import { startPtySim, type PtySim } from '../link/sim-process.ts';
import type { InfoMessage } from '../link/messages.ts';
import type { HilOptions } from './options.ts';
import type { Journal } from './journal.ts';

function toTensor(rgb: Uint8Array): Int8Array {
  const q = new Int8Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) q[i] = rgb[i]! - 128;
  return q;
}

/** Decodes each manifest image once into the model's int8 input, ahead of its turn on the wire. */
export class ImageSource {
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

export interface Connection {
  client: SorterClient;
  info: InfoMessage;
  sim?: PtySim;
  close(): Promise<void>;
}

export async function connect(o: HilOptions, modelSha: string, reconnecting = false): Promise<Connection> {
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

export interface DevicePhase {
  o: HilOptions;
  items: ManifestItem[];
  images: ImageSource;
  journal: Journal;
  journalPath: string;
  modelSha: string;
  size: number;
}

/** Streams every image without a journalled result; `complete` is false when `--limit` stopped it early. */
export async function streamToDevice({ o, items, images, journal, journalPath, modelSha, size }: DevicePhase): Promise<{ complete: boolean; lastInfo: InfoMessage | null }> {
  const done = journal.results();
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
  return { complete, lastInfo };
}
