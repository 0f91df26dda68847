import { existsSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BindingInterface } from '@serialport/bindings-interface';
import { UserError } from '../util/errors.ts';

export interface SerialPortInfo {
  path: string;
  vendorId?: string;
  productId?: string;
}

export const ESPRESSIF_VID = '303a';
/** USB-serial bridges found on ESP32-S3 boards: Silicon Labs CP210x, WCH CH34x, FTDI. */
export const BRIDGE_VIDS = ['10c4', '1a86', '0403'];

/** Linux: USB serial devices from sysfs, without udev (which is absent in containers and CI). */
export function listSysfsPorts(sysRoot = '/sys/class/tty'): SerialPortInfo[] {
  if (!existsSync(sysRoot)) return [];
  const ports: SerialPortInfo[] = [];
  for (const name of readdirSync(sysRoot).sort()) {
    if (!/^tty(ACM|USB)\d+$/.test(name)) continue;
    let dir: string;
    try {
      dir = realpathSync(join(sysRoot, name, 'device'));
    } catch {
      continue;
    }
    let vendorId: string | undefined;
    let productId: string | undefined;
    for (let d = dir; d !== '/' && d !== '.'; d = dirname(d)) {
      if (existsSync(join(d, 'idVendor'))) {
        vendorId = readFileSync(join(d, 'idVendor'), 'utf8').trim().toLowerCase();
        productId = readFileSync(join(d, 'idProduct'), 'utf8').trim().toLowerCase();
        break;
      }
    }
    ports.push({ path: `/dev/${name}`, vendorId, productId });
  }
  return ports;
}

/** The machine's serial ports with their USB ids; `binding` lists another binding's ports (tests: the emulated board's). */
export async function listSerialPorts(binding?: Pick<BindingInterface, 'list'>): Promise<SerialPortInfo[]> {
  try {
    const listed = binding ? await binding.list() : await (await import('serialport')).SerialPort.list();
    return listed.map((p) => ({ path: p.path, vendorId: p.vendorId?.toLowerCase(), productId: p.productId?.toLowerCase() }));
  } catch {
    // node-serialport lists through udevadm on Linux; without it, read sysfs ourselves.
    return listSysfsPorts();
  }
}

/** Picks the board: an Espressif USB device, else a single USB-serial bridge. */
export function choosePort(ports: SerialPortInfo[]): SerialPortInfo {
  const espressif = ports.filter((p) => p.vendorId === ESPRESSIF_VID);
  const candidates = espressif.length ? espressif : ports.filter((p) => p.vendorId && BRIDGE_VIDS.includes(p.vendorId));
  if (candidates.length === 0) {
    throw new UserError('no ESP32-S3 board found on USB; plug the bin in (data cable, not charge-only) or name the port with --port');
  }
  if (candidates.length > 1) {
    throw new UserError(`${candidates.length} boards found (${candidates.map((p) => p.path).join(', ')}); choose one with --port`);
  }
  return candidates[0]!;
}

/** A path as the port list names it: symbolic links (/dev/serial/by-id/…) resolved, macOS's cu./tty. twins as one. */
function canonicalPortPath(path: string): string {
  let p = path;
  try {
    p = realpathSync(path);
  } catch {
    // Not a file here (COM3, or a port that is gone): compare the name as given.
  }
  p = p.replace(/^\/dev\/cu\./, '/dev/tty.');
  return process.platform === 'win32' ? p.toUpperCase() : p;
}

/** The listed port a `--port` path names, when the list has it (a pty or a network port is not listed). */
export function findPort(path: string, ports: SerialPortInfo[]): SerialPortInfo | undefined {
  const want = canonicalPortPath(path);
  return ports.find((p) => p.path === path) ?? ports.find((p) => canonicalPortPath(p.path) === want);
}

/** USB-Serial-JTAG (Espressif PID 0x1001) resets through its own line decoding. */
export function resetStrategyFor(port: SerialPortInfo): 'classic' | 'usb-jtag' {
  return port.vendorId === ESPRESSIF_VID && port.productId === '1001' ? 'usb-jtag' : 'classic';
}
