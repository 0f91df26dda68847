/**
 * `--port` naming the ESP32-S3's own USB-Serial-JTAG port (USB id 303A:1001, the only port of a XIAO
 * ESP32S3) must reset it the usb-jtag way, as the port found without --port is: the classic sequence
 * cannot put that port into download mode. And when no bootloader answers, the error names the other
 * --reset style to try.
 */
import { mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BindingInterface } from '@serialport/bindings-interface';
import { describe, expect, it } from 'vitest';
import { runFlashCommand, type FlashCommandOptions } from '../../host/flash/cli-flow.ts';
import { findPort } from '../../host/flash/ports.ts';
import { UserError } from '../../host/util/errors.ts';
import { makeBuildDir } from '../../testing/flash/build-fixture.ts';
import { RomEmulator } from '../../testing/flash/rom-emulator.ts';
import { emulatorBinding } from '../../testing/flash/serialport-binding.ts';

async function build(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'reset-style-'));
  await makeBuildDir(dir);
  return dir;
}

const options = (build: string, extra: Partial<FlashCommandOptions> = {}): FlashCommandOptions => ({
  build,
  baud: 460800,
  modelOnly: false,
  verify: false,
  ...extra,
});

/** esptool's USB-Serial-JTAG sequence passes through (1,1); the classic one never sets both lines. */
const usedUsbJtagSequence = (e: RomEmulator) => e.lineStates.some(([dtr, rts]) => dtr && rts);

describe('flash --port chooses the reset style from the port\'s USB id', () => {
  it('--port naming a 303A:1001 port (XIAO ESP32S3) resets it the usb-jtag way and flashes', async () => {
    const emulator = new RomEmulator({ wiring: 'usb-jtag' });
    const binding = emulatorBinding(emulator, '/dev/ttyACM0');
    const result = await runFlashCommand(options(await build(), { port: '/dev/ttyACM0' }), { binding });
    expect(result.usbJtag).toBe(true);
    expect(result.regions.map((r) => r.role)).toEqual(['bootloader', 'partition-table', 'app']);
    expect(usedUsbJtagSequence(emulator)).toBe(true);
    expect(emulator.mode).toBe('app');
  });

  it('--port given as a symbolic link to the listed port (/dev/serial/by-id/…) is the same port', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'by-id-'));
    const real = join(dir, 'ttyACM0');
    await writeFile(real, '');
    const link = join(dir, 'usb-Espressif_USB_JTAG_serial_debug_unit-if00');
    await symlink(real, link);
    const emulator = new RomEmulator({ wiring: 'usb-jtag' });
    const inner = emulatorBinding(emulator, real);
    // The OS opens the link as the device it points to.
    const binding: BindingInterface = { list: () => inner.list(), open: (o) => inner.open({ ...o, path: real }) };
    const result = await runFlashCommand(options(await build(), { port: link }), { binding });
    expect(result.usbJtag).toBe(true);
    expect(findPort(link, await inner.list())?.path).toBe(real);
  });

  it('--port naming a USB-UART bridge keeps the classic reset', async () => {
    const emulator = new RomEmulator({ wiring: 'classic' });
    const binding = emulatorBinding(emulator, '/dev/ttyUSB0');
    const result = await runFlashCommand(options(await build(), { port: '/dev/ttyUSB0' }), { binding });
    expect(result.usbJtag).toBe(false);
    expect(usedUsbJtagSequence(emulator)).toBe(false);
  });
});

describe('no bootloader answered: the error names the other reset style', () => {
  it('classic on the S3\'s own USB port: try --reset usb-jtag', async () => {
    const emulator = new RomEmulator({ wiring: 'usb-jtag' });
    const binding = emulatorBinding(emulator, '/dev/ttyACM0');
    const err = await runFlashCommand(options(await build(), { port: '/dev/ttyACM0', reset: 'classic' }), { binding }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toMatch(/^\/dev\/ttyACM0: no ESP bootloader answered after 5 resets \(--reset classic\); /);
    expect(message).toContain('pass --reset usb-jtag');
    expect(message).toContain('303A:1001');
    // Following that advice works.
    const result = await runFlashCommand(options(await build(), { port: '/dev/ttyACM0', reset: 'usb-jtag' }), { binding });
    expect(result.usbJtag).toBe(true);
  }, 20_000);

  it('usb-jtag on a bridge-wired board: try --reset classic', async () => {
    const emulator = new RomEmulator({ wiring: 'classic' });
    const binding = emulatorBinding(emulator, '/dev/ttyUSB0');
    const err = await runFlashCommand(options(await build(), { port: '/dev/ttyUSB0', reset: 'usb-jtag' }), { binding }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain('pass --reset classic');
  }, 20_000);
});
