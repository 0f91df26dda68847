import { SerialPortStream } from '@serialport/stream';
import type { BindingInterface } from '@serialport/bindings-interface';
import { UserError } from '../util/errors.ts';

/** A serial line as the flasher needs it: bytes both ways, the DTR/RTS lines and the baud rate. */
export interface ByteLink {
  readonly path: string;
  write(data: Uint8Array): Promise<void>;
  onData(listener: (chunk: Uint8Array) => void): () => void;
  setSignals(signals: { dtr?: boolean; rts?: boolean }): Promise<void>;
  setBaudRate(baud: number): Promise<void>;
  close(): Promise<void>;
}

async function defaultBinding(): Promise<BindingInterface> {
  const { SerialPort } = await import('serialport');
  return SerialPort.binding as unknown as BindingInterface;
}

/**
 * Opens a serial port through node-serialport. `binding` defaults to the native one; tests pass an
 * emulated board's binding so the same stream code runs in both.
 */
export async function openSerialLink(path: string, baudRate: number, binding?: BindingInterface): Promise<ByteLink> {
  const port = new SerialPortStream({ binding: binding ?? (await defaultBinding()), path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) =>
    port.open((err) => {
      if (!err) return resolve();
      const hint = /ENOENT|No such file/.test(err.message)
        ? 'check the cable and the path (ls /dev/ttyACM* /dev/ttyUSB*)'
        : /EACCES|Permission/.test(err.message)
          ? 'add yourself to the dialout group or run with access to the port'
          : /lock|busy/i.test(err.message)
            ? 'close the other program using it (idf.py monitor, a serial console)'
            : 'check the port';
      reject(new UserError(`cannot open serial port ${path}: ${err.message}; ${hint}`));
    }),
  );
  const listeners = new Set<(chunk: Uint8Array) => void>();
  port.on('data', (chunk: Buffer) => {
    for (const l of listeners) l(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  return {
    path,
    write: (data) =>
      new Promise<void>((resolve, reject) => {
        port.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), (err) => (err ? reject(err) : resolve()));
      }),
    onData(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    setSignals: (signals) => new Promise<void>((resolve, reject) => port.set(signals, (err) => (err ? reject(err) : resolve()))),
    setBaudRate: (baudRate) =>
      new Promise<void>((resolve, reject) => port.update({ baudRate }, (err) => (err ? reject(err) : resolve()))),
    close: () =>
      new Promise<void>((resolve) => {
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      }),
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
