import { createHash } from 'node:crypto';
import { ESPLoader, Transport } from 'esptool-js';
import { RomEmulator, type RomEmulatorOptions } from '../../testing/flash/rom-emulator.ts';
import { EmulatorWebSerialPort } from './web-serial.ts';

/**
 * Espressif's esptool-js (the browser flasher) connected to a fresh emulated board through the
 * Web Serial adapter. It runs in ROM mode, as `esptool.py --no-stub` does: the stub flasher is a
 * binary that runs on the chip, which the emulator does not execute.
 */
export async function esptoolJsOn(options: RomEmulatorOptions = {}, baudrate = 115200) {
  const emulator = new RomEmulator(options);
  const port = new EmulatorWebSerialPort(emulator);
  const log: string[] = [];
  const terminal = { clean() {}, writeLine: (s: string) => log.push(s), write: (s: string) => log.push(s) };
  const transport = new Transport(port as never, false);
  const loader = new ESPLoader({ transport, baudrate, romBaudrate: 115200, terminal });
  return { emulator, port, loader, transport, log };
}

/** esptool-js in ROM mode hex-encodes the ROM's 32-character ASCII MD5 answer; this undoes that. */
export function romMd5(esptoolJsAnswer: string): string {
  return Buffer.from(esptoolJsAnswer, 'hex').toString('ascii');
}

export const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
