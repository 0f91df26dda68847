/**
 * The one serial-port abstraction: a port (a board, or a simulator's pseudo-terminal) opened through
 * node-serialport, seen by the flasher as a `ByteLink` (bytes, DTR/RTS, baud changes) and by the sorter
 * protocol as a `Transport`; and a child process's stdio (the reference simulators) as a `Transport`.
 */
import { SerialPortStream } from '@serialport/stream';
import type { BindingInterface } from '@serialport/bindings-interface';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { UserError } from '../util/errors.ts';

/** The byte stream the sorter protocol runs over. */
export interface Transport {
  /** Resolves once the bytes are handed to the OS (serialport drain). */
  write(bytes: Uint8Array): Promise<void>;
  onData(cb: (chunk: Uint8Array) => void): void;
  /** Called once when the far end goes away (port unplugged, simulator killed) or close() is called. */
  onClose(cb: (reason: string) => void): void;
  close(): Promise<void>;
  readonly description: string;
}

/** A serial line as the flasher needs it: bytes both ways, the DTR/RTS lines and the baud rate. */
export interface ByteLink {
  readonly path: string;
  write(data: Uint8Array): Promise<void>;
  onData(listener: (chunk: Uint8Array) => void): () => void;
  setSignals(signals: { dtr?: boolean; rts?: boolean }): Promise<void>;
  setBaudRate(baud: number): Promise<void>;
  close(): Promise<void>;
}

class Listeners {
  data: ((c: Uint8Array) => void)[] = [];
  close: ((r: string) => void)[] = [];
  closed = false;
  emitClose(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const cb of this.close) cb(reason);
  }
}

async function nativeBinding(): Promise<BindingInterface> {
  const { SerialPort } = await import('serialport');
  return SerialPort.binding as unknown as BindingInterface;
}

/**
 * Opens `path` as a raw 8N1 serial port; the one place a port is opened, so the flasher and HIL
 * fail alike. `binding` defaults to the native one; tests pass an emulated board's binding.
 */
async function openPort(path: string, baudRate: number, opts: { binding?: BindingInterface; hupcl?: boolean } = {}): Promise<SerialPortStream> {
  const port = new SerialPortStream({ binding: opts.binding ?? (await nativeBinding()), path, baudRate, autoOpen: false, ...(opts.hupcl === undefined ? {} : { hupcl: opts.hupcl }) });
  await new Promise<void>((resolve, reject) =>
    port.open((err) => {
      if (!err) return resolve();
      const msg = err.message.replace(/^Error:\s*/, '');
      const hint = /ENOENT|No such file/.test(msg)
        ? 'check that the board is plugged in and the path is right (ls /dev/ttyACM* /dev/ttyUSB*)'
        : /EACCES|Permission/.test(msg)
          ? 'add yourself to the dialout group or run with access to the port'
          : /lock|busy/i.test(msg)
            ? 'close the other program using it (idf.py monitor, a serial console)'
            : 'check that the board is plugged in, the path is right and no other program (idf.py monitor) holds it';
      reject(new UserError(`--port ${path}: cannot open the serial port (${msg}); ${hint}`));
    }),
  );
  return port;
}

/**
 * Opens a serial port for the flasher. A port that goes away (the board unplugged: a write fails with
 * EIO, or node-serialport closes it as disconnected) makes every later call fail with LinkClosedError
 * naming the port, never an unhandled 'error' event.
 */
export async function openSerialLink(path: string, baudRate: number, binding?: BindingInterface): Promise<ByteLink> {
  const port = await openPort(path, baudRate, binding ? { binding } : {});
  const listeners = new Set<(chunk: Uint8Array) => void>();
  let lost: string | undefined;
  const lose = (why: string) => {
    lost ??= why;
  };
  port.on('data', (chunk: Buffer) => {
    for (const l of listeners) l(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  // A failed write also reaches the stream's 'error' event, and a disconnect closes the port.
  port.on('error', (e: Error) => lose(e.message));
  port.on('close', (e: Error | null) => {
    if (e) lose(e.message);
  });
  const gone = () => new LinkClosedError(`${path}: the port went away (${lost ?? 'closed'})`);
  /** A port operation's callback as a promise; once the port is gone, its failure names that. */
  const call = (op: (cb: (err: Error | null | undefined) => void) => void) =>
    new Promise<void>((resolve, reject) => {
      if (lost) return reject(gone());
      op((err) => (err ? reject(lost ? gone() : err) : resolve()));
    });
  return {
    path,
    write: (data) =>
      new Promise<void>((resolve, reject) => {
        if (lost) return reject(gone());
        port.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), (err) => {
          if (!err) return resolve();
          lose(`write failed: ${err.message}`);
          reject(gone());
        });
      }),
    onData(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    setSignals: (signals) => call((cb) => port.set(signals, cb)),
    setBaudRate: (baudRate) => call((cb) => port.update({ baudRate }, cb)),
    close: () =>
      new Promise<void>((resolve) => {
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      }),
  };
}

/** The sorter protocol over the flasher's open link, so one open port serves both; close() leaves the port open. */
export function byteLinkTransport(link: ByteLink): Transport {
  const closeListeners: ((reason: string) => void)[] = [];
  return {
    description: link.path,
    write: (bytes) => link.write(bytes),
    onData: (cb) => {
      link.onData(cb);
    },
    onClose: (cb) => {
      closeListeners.push(cb);
    },
    close: async () => {
      for (const cb of closeListeners) cb('closed');
    },
  };
}

const WRITE_CHUNK = 2048;

/** Opens `path` (e.g. /dev/ttyACM0 or a /dev/pts/N from sorter-sim) as a raw 8N1 serial port. */
export async function openSerialTransport(path: string, baudRate: number): Promise<Transport> {
  const port = await openPort(path, baudRate, { hupcl: false });
  const l = new Listeners();
  port.on('data', (b: Buffer) => {
    const chunk = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    for (const cb of l.data) cb(chunk);
  });
  port.on('close', () => l.emitClose(`${path} closed`));
  port.on('error', (e: Error) => l.emitClose(`${path}: ${e.message}`));
  // Writes go out in 2 KiB chunks, inside a tty buffer, each drained (tcdrain) before the next.
  // A large write that fills the buffer makes node-serialport wait for a "writable" poll event,
  // which can be lost while a read poll is pending: on a pty at a throttled rate the second
  // pipelined INFER then stalled forever. Draining first means a write never sees EAGAIN.
  let chain: Promise<void> = Promise.resolve();
  const writeChunk = (chunk: Buffer) =>
    new Promise<void>((resolve, reject) => {
      if (l.closed) return reject(new LinkClosedError(`${path} is closed`));
      port.write(chunk, (err) => {
        if (err) reject(new LinkClosedError(`${path}: write failed (${err.message})`));
      });
      port.drain((err) => (err ? reject(new LinkClosedError(`${path}: ${err.message}`)) : resolve()));
    });
  return {
    description: path,
    write(bytes) {
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const run = chain.then(async () => {
        for (let o = 0; o < buf.length; o += WRITE_CHUNK) await writeChunk(buf.subarray(o, o + WRITE_CHUNK));
      });
      chain = run.catch(() => {});
      return run;
    },
    onData(cb) {
      l.data.push(cb);
    },
    onClose(cb) {
      l.close.push(cb);
    },
    close() {
      return new Promise((resolve) => {
        if (!port.isOpen) {
          l.emitClose('closed');
          return resolve();
        }
        port.close(() => {
          l.emitClose('closed');
          resolve();
        });
      });
    },
  };
}

/** The protocol over a child's stdin/stdout (sorter-sim --stdio). */
export function childTransport(child: ChildProcessWithoutNullStreams, description: string): Transport {
  const l = new Listeners();
  child.stdout.on('data', (b: Buffer) => {
    const chunk = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    for (const cb of l.data) cb(chunk);
  });
  child.on('exit', (code, signal) => l.emitClose(`${description} exited (${signal ?? `code ${code}`})`));
  child.stdin.on('error', () => {});
  return {
    description,
    write(bytes) {
      return new Promise((resolve, reject) => {
        if (l.closed) return reject(new LinkClosedError(`${description} has exited`));
        child.stdin.write(bytes, (err) => (err ? reject(new LinkClosedError(`${description}: ${err.message}`)) : resolve()));
      });
    },
    onData(cb) {
      l.data.push(cb);
    },
    onClose(cb) {
      l.close.push(cb);
    },
    async close() {
      child.stdin.end();
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            child.kill('SIGKILL');
          }, 2000);
          child.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      l.emitClose('closed');
    },
  };
}

/** The link went away (device unplugged or reset, simulator killed). */
export class LinkClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LinkClosedError';
  }
}
