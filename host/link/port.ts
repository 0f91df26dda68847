/**
 * Byte transports for the sorter protocol: a serial port (a board, or a simulator's pseudo-terminal)
 * through node-serialport, or a child process's stdio (the reference simulators).
 */
import { SerialPort } from 'serialport';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { UserError } from '../util/errors.ts';

export interface Transport {
  /** Resolves once the bytes are handed to the OS (serialport drain). */
  write(bytes: Uint8Array): Promise<void>;
  onData(cb: (chunk: Uint8Array) => void): void;
  /** Called once when the far end goes away (port unplugged, simulator killed) or close() is called. */
  onClose(cb: (reason: string) => void): void;
  close(): Promise<void>;
  readonly description: string;
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

const WRITE_CHUNK = 2048;

/** Opens `path` (e.g. /dev/ttyACM0 or a /dev/pts/N from sorter-sim) as a raw 8N1 serial port. */
export async function openSerialTransport(path: string, baudRate: number): Promise<Transport> {
  const port = new SerialPort({ path, baudRate, autoOpen: false, hupcl: false });
  await new Promise<void>((resolve, reject) => {
    port.open((err) => {
      if (!err) return resolve();
      const msg = err.message.replace(/^Error:\s*/, '');
      reject(
        new UserError(
          `--port ${path}: cannot open the serial port (${msg}); check that the board is plugged in, the path is right and no other program (idf.py monitor) holds it`,
        ),
      );
    });
  });
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
