/**
 * The board unplugged mid-flash: the port's writes fail with EIO. The flasher must say, in one line with
 * a user exit code, which port went away, which region is half-written and what to do, and node must not
 * crash on the stream's 'error' event.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flashOverLink, prepareFlash, type FlashCommandOptions } from '../../host/flash/cli-flow.ts';
import { describeFailure } from '../../host/cli/run.ts';
import { LinkClosedError, openSerialLink, type ByteLink } from '../../host/link/port.ts';
import { verifyFlashedBoard } from '../../host/flash/verify.ts';
import { EXIT } from '../../host/util/exit-codes.ts';
import { UserError } from '../../host/util/errors.ts';
import { APP_OFFSET, makeBuildDir } from '../../testing/flash/build-fixture.ts';
import { RomEmulator } from '../../testing/flash/rom-emulator.ts';
import { emulatorBinding } from '../../testing/flash/serialport-binding.ts';

const PORT = '/dev/ttyACM7';

/** `plastisort flash` over the emulated board's port, unplugged after `failWritesAfter` writes. */
async function flashUnplugged(build: string, failWritesAfter: number | undefined, onWrite?: (i: number, emulator: RomEmulator) => void) {
  const emulator = new RomEmulator();
  const opts: FlashCommandOptions = { build, baud: 460800, modelOnly: false, verify: false };
  const prepared = await prepareFlash(opts);
  const link = await openSerialLink(PORT, 115200, emulatorBinding(emulator, PORT, { failWritesAfter, onWrite: (i) => onWrite?.(i, emulator) }));
  try {
    const result = await flashOverLink(prepared, link, 'classic', opts);
    return { emulator, result, error: undefined };
  } catch (error) {
    return { emulator, result: undefined, error: error as Error };
  } finally {
    await link.close();
  }
}

/** Lets a stray 'error' event (emitted after the rejection) surface before the test ends. */
const settle = () => new Promise((r) => setTimeout(r, 50));

describe('the board unplugged while flashing', () => {
  it('names the port, the half-written app and the fix, in one line with exit 1, without crashing', async () => {
    const build = await mkdtemp(join(tmpdir(), 'port-lost-'));
    await makeBuildDir(build, 200_000);
    // A full flash first, to find the first write after the app's FLASH_DEFL_BEGIN was taken.
    let appBegun = -1;
    const dry = await flashUnplugged(build, undefined, (i, emulator) => {
      if (appBegun < 0 && emulator.writes.some((w) => w.offset === APP_OFFSET)) appBegun = i;
    });
    expect(dry.error).toBeUndefined();
    expect(dry.emulator.mode).toBe('app');
    expect(appBegun).toBeGreaterThan(0);
    const unplugAt = appBegun + 4;

    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.prependListener('uncaughtException', onUncaught);
    try {
      const { emulator: board, error } = await flashUnplugged(build, unplugAt);
      await settle();
      expect(uncaught).toEqual([]);
      expect(error).toBeInstanceOf(UserError);
      const { line, exitCode } = describeFailure(error);
      expect(exitCode).toBe(EXIT.input);
      expect(exitCode).not.toBe(EXIT.internal);
      expect(line).not.toContain('\n');
      expect(line).not.toMatch(/internal error|a bug in plastisort/);
      expect(line).toContain(PORT);
      expect(line).toMatch(/went away/);
      expect(line).toContain('EIO');
      expect(line).toMatch(/app \(plastisort\.bin at 0x10000\)/);
      expect(line).toMatch(/the app is half-written/);
      expect(line).toMatch(/\(bootloader, partition-table written and verified before it\)/);
      expect(line).toMatch(/reconnect the board.*run the same command again/i);
      // The board really is half-written: the app's erase began, the reset into the app never came.
      expect(board.writes.map((w) => w.offset)).toContain(APP_OFFSET);
      expect(board.mode).toBe('bootloader');
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
  });

  it('unplugged before any region: says the board is as it was', async () => {
    const build = await mkdtemp(join(tmpdir(), 'port-lost-'));
    await makeBuildDir(build);
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.prependListener('uncaughtException', onUncaught);
    try {
      // The first SYNC goes out, then the port is gone.
      const { emulator, error } = await flashUnplugged(build, 1);
      await settle();
      expect(uncaught).toEqual([]);
      const { line, exitCode } = describeFailure(error);
      expect(exitCode).toBe(EXIT.input);
      expect(line).toContain(PORT);
      expect(line).toMatch(/went away/);
      expect(line).toMatch(/before anything was written; the board is as it was/);
      expect(line).toMatch(/reconnect the board.*run the same command again/i);
      expect(emulator.writes).toEqual([]);
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
  });
});

describe('the board unplugged after the reset, during the post-flash check', () => {
  it('says the flash stands and only the check was cut off, as a user error', async () => {
    const link: ByteLink = {
      path: PORT,
      write: () => Promise.reject(new LinkClosedError(`${PORT}: the port went away (write failed: EIO: i/o error, write)`)),
      onData: () => () => {},
      setSignals: () => Promise.resolve(),
      setBaudRate: () => Promise.reject(new LinkClosedError(`${PORT}: the port went away (closed)`)),
      close: () => Promise.resolve(),
    };
    const error = await verifyFlashedBoard(link, 115200, { bootMs: 0 }).catch((e: unknown) => e);
    const { line, exitCode } = describeFailure(error);
    expect(exitCode).toBe(EXIT.input);
    expect(line).toBe(
      `${PORT}: the port went away (closed) after the flash; every region was verified by MD5 before the reset, only the check of the running app was cut off. Reconnect the board; to check it, run the same command again`,
    );
  });
});
