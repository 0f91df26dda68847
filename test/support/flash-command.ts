import { flashOverLink, prepareFlash, type FlashCommandOptions, type FlashCommandResult } from '../../host/flash/cli-flow.ts';
import { openSerialLink } from '../../host/link/port.ts';
import { resetStrategyFor } from '../../host/flash/ports.ts';
import type { RomEmulator } from '../../testing/flash/rom-emulator.ts';
import { emulatorBinding } from '../../testing/flash/serialport-binding.ts';

/**
 * `plastisort flash` as runFlashCommand runs it, with the emulated board's port in place of the
 * machine's: the same checks, reset-style choice from the USB id, progress and post-flash check.
 */
export async function runFlashCommandOn(emulator: RomEmulator, opts: FlashCommandOptions): Promise<FlashCommandResult> {
  const prepared = await prepareFlash(opts);
  const binding = emulatorBinding(emulator);
  const [port] = await binding.list();
  const link = await openSerialLink(port!.path, 115200, binding);
  try {
    return await flashOverLink(prepared, link, prepared.reset ?? resetStrategyFor(port!), opts);
  } finally {
    await link.close();
  }
}
