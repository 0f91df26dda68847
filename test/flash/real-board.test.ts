import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFlashCommand } from '../../host/flash/cli-flow.ts';
import { flashBoard } from '../../host/flash/flash.ts';
import { loadFlashPlan } from '../../host/flash/images.ts';
import { openSerialLink } from '../../host/link/port.ts';
import { RomLoader } from '../../host/flash/rom-loader.ts';
import { UserError } from '../../host/util/errors.ts';
import { APP_OFFSET, espImage, makeBuildDir } from '../../testing/flash/build-fixture.ts';
import { RomEmulator, type RomEmulatorOptions } from '../../testing/flash/rom-emulator.ts';
import { emulatorBinding } from '../../testing/flash/serialport-binding.ts';
import { runFlashCommandOn } from '../support/flash-command.ts';
import { tinyModel } from '../serial/fixtures.ts';

// The paths a real board takes: USB-Serial-JTAG reset and watchdogs, noisy links, wrong images, ports
// without modem lines.

async function board(options: RomEmulatorOptions = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'flash-real-'));
  const images = await makeBuildDir(dir);
  const plan = await loadFlashPlan(join(dir, 'flasher_args.json'));
  const emulator = new RomEmulator(options);
  const link = await openSerialLink('/dev/ttyEMU0', 115200, emulatorBinding(emulator));
  return { dir, images, plan, emulator, link };
}

const appOnFlash = (emu: RomEmulator, app: Uint8Array) => Buffer.from(emu.flash.subarray(APP_OFFSET, APP_OFFSET + app.length)).equals(Buffer.from(app));

describe('the ESP32-S3 USB-Serial-JTAG port', () => {
  it('resets into the loader through (1,1), quiets the watchdogs of a boot-looping app, and flashes', async () => {
    const { images, plan, emulator, link } = await board({ wiring: 'usb-jtag', watchdogAfterCommands: 12 });
    try {
      const result = await flashBoard({ plan, link, baud: 115200, resetStrategy: 'usb-jtag' });
      expect(result.usbJtag).toBe(true);
    } finally {
      await link.close();
    }
    const states = emulator.lineStates.map(([d, r]) => `${+d}${+r}`).join(' ');
    expect(states).toMatch(/^00 10 11 01 00/);
    expect(emulator.watchdogResets).toBe(0);
    expect(appOnFlash(emulator, images.app!)).toBe(true);
    expect(emulator.mode).toBe('app');
  });

  it('without the watchdog writes, the same board resets mid-session (the emulated fault is real)', async () => {
    const { emulator, link } = await board({ wiring: 'usb-jtag', watchdogAfterCommands: 12 });
    const loader = new RomLoader(link, 300);
    try {
      await loader.connect('usb-jtag');
      const err = await (async () => {
        for (let i = 0; i < 20; i++) await loader.readReg(0x60007044);
      })().catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/no answer to READ_REG/);
      expect(emulator.watchdogResets).toBe(1);
    } finally {
      loader.dispose();
      await link.close();
    }
  });

  it('a reset that passes through (0,0) loses the download latch and boots the app', () => {
    const emulator = new RomEmulator({ wiring: 'usb-jtag' });
    for (const [dtr, rts] of [[false, false], [true, false], [false, false], [false, true], [false, false]] as const) emulator.setSignals(dtr, rts);
    expect(emulator.mode).toBe('app');
    for (const [dtr, rts] of [[false, false], [true, false], [true, true], [false, true], [false, false]] as const) emulator.setSignals(dtr, rts);
    expect(emulator.mode).toBe('bootloader');
  });
});

describe('the ROM', () => {
  it('refuses a write past the flash size SPI_SET_PARAMS gave it, before erasing anything', async () => {
    const { emulator, link } = await board();
    emulator.flash.fill(0x5a);
    const loader = new RomLoader(link, 500);
    try {
      await loader.connect('classic');
      await loader.attachFlash(0x100000);
      await expect(loader.writeFlash(0xff000, new Uint8Array(0x2000), undefined, true)).rejects.toThrow(/refused FLASH_DEFL_BEGIN: failed to act/);
      await loader.writeFlash(0xff000, new Uint8Array(0x1000), undefined, true);
    } finally {
      loader.dispose();
      await link.close();
    }
    expect(emulator.flash.subarray(0xff000, 0x100000).every((b) => b === 0)).toBe(true);
    expect(emulator.flash[0x100000]).toBe(0x5a);
  });
});

describe('a noisy link', () => {
  for (const compress of [false, true]) {
    it(`sends a refused ${compress ? 'compressed ' : ''}block again and finishes`, async () => {
      const { images, plan, emulator, link } = await board({ noisyDataPackets: [4] });
      try {
        const result = await flashBoard({ plan, link, baud: 115200, resetStrategy: 'classic', compress });
        expect(result.retries).toBe(1);
      } finally {
        await link.close();
      }
      expect(appOnFlash(emulator, images.app!)).toBe(true);
    });
  }

  it('gives up after three refusals of one block, naming the command and the reason', async () => {
    const { plan, link } = await board({ noisyDataPackets: [4, 5, 6] });
    try {
      await expect(flashBoard({ plan, link, baud: 115200, resetStrategy: 'classic' })).rejects.toThrow(
        /refused FLASH_DEFL_DATA: invalid CRC in message; .*half-written/,
      );
    } finally {
      await link.close();
    }
  });
});

describe('checks before a board is touched', () => {
  it('refuses an app image built for another chip', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flash-real-'));
    await makeBuildDir(dir, 0, 'esp32s3', espImage(20_000, 3, 5));
    const emulator = new RomEmulator();
    await expect(runFlashCommandOn(emulator, { build: dir, baud: 115200, modelOnly: false })).rejects.toThrow(
      /plastisort\.bin: the image is built for chip id 5 \(ESP32-C3\), not 9 \(ESP32-S3\)/,
    );
    expect(emulator.bootCount).toBe(0);
  });

  it('refuses an unknown --reset style', async () => {
    const { dir, emulator, link } = await board();
    await link.close();
    await expect(runFlashCommandOn(emulator, { build: dir, baud: 115200, modelOnly: false, reset: 'dtr' })).rejects.toThrow(
      /--reset dtr: unknown reset style; use one of classic, usb-jtag, none/,
    );
    expect(emulator.bootCount).toBe(0);
  });

  it('--model-only refuses a truncated model, naming the file', async () => {
    const { dir, emulator, link } = await board();
    await link.close();
    const model = tinyModel(2);
    await writeFile(join(dir, 'cut.tflite'), model.subarray(0, model.length - 50));
    const err = await runFlashCommandOn(emulator, { build: dir, baud: 115200, modelOnly: true, model: join(dir, 'cut.tflite') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/cut\.tflite/);
    expect((err as Error).message).not.toContain('\n');
    expect(emulator.bootCount).toBe(0);
  });
});

const hasPython = spawnSync('python3', ['-c', 'import pty']).status === 0;

describe.skipIf(!hasPython)('a pty as --port (what socat or ser2net give)', () => {
  /** A pty whose far end is the emulated board, already in download mode (BOOT held, RESET tapped). */
  async function ptyBoard() {
    const dir = await mkdtemp(join(tmpdir(), 'flash-pty-'));
    const images = await makeBuildDir(dir);
    const emulator = new RomEmulator();
    emulator.setSignals(false, true);
    emulator.setSignals(true, false);
    const relay = spawn('python3', [join(import.meta.dirname, '../support/pty-relay.py')]);
    const path = await new Promise<string>((resolve) => relay.stdout.once('data', (b: Buffer) => resolve(b.toString().trim())));
    relay.stdout.on('data', (b: Buffer) => void emulator.fromHost(new Uint8Array(b)));
    emulator.attachHost((bytes) => relay.stdin.write(bytes));
    return { dir, images, emulator, path, stop: () => relay.kill() };
  }

  it('with the default reset: a one-line error that says to use --reset none', async () => {
    const { dir, emulator, path, stop } = await ptyBoard();
    try {
      const err = await runFlashCommand({ build: dir, port: path, baud: 115200, modelOnly: false, verify: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(/cannot set DTR\/RTS .*no modem lines.*--reset none/);
      expect((err as Error).message).not.toContain('\n');
      expect(emulator.writes).toEqual([]);
    } finally {
      stop();
    }
  });

  it('with --reset none: flashes, verifies and starts the app without touching the lines', async () => {
    const { dir, images, emulator, path, stop } = await ptyBoard();
    try {
      const result = await runFlashCommand({ build: dir, port: path, baud: 460800, modelOnly: false, verify: false, reset: 'none' });
      expect(result.regions.map((r) => r.role)).toEqual(['bootloader', 'partition-table', 'app']);
    } finally {
      stop();
    }
    expect(appOnFlash(emulator, images.app!)).toBe(true);
    expect(emulator.mode).toBe('app');
  });
});
