import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSerialLink } from '../../host/link/port.ts';
import { RomEmulator } from '../../testing/flash/rom-emulator.ts';
import { emulatorBinding } from '../../testing/flash/serialport-binding.ts';
import { runFlashCommandOn } from '../support/flash-command.ts';
import { verifyFlashedBoard } from '../../host/flash/verify.ts';
import { tinyModel } from '../serial/fixtures.ts';
import { MODEL_OFFSET, makeBuildDir } from '../../testing/flash/build-fixture.ts';

const sim = resolve(import.meta.dirname, '../../build-host/sim/sorter-sim');
if (!existsSync(sim)) console.warn(`skipping the post-flash checks: ${sim} is not built (npm test builds it)`);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!existsSync(sim))('post-flash check through the application protocol', () => {
  async function board() {
    const dir = await mkdtemp(join(tmpdir(), 'flash-verify-'));
    await makeBuildDir(dir);
    const builtin = tinyModel(1);
    await writeFile(join(dir, 'builtin.tflite'), builtin);
    const emulator = new RomEmulator({ app: { simBinary: sim, builtinModel: join(dir, 'builtin.tflite'), modelPartitionOffset: MODEL_OFFSET } });
    return { dir, builtin, emulator };
  }

  it('flashes a model, resets, and confirms the board now runs exactly that model', async () => {
    const { dir, emulator } = await board();
    const model = tinyModel(2);
    await writeFile(join(dir, 'new.tflite'), model);
    try {
      const result = await runFlashCommandOn(emulator, { build: dir, baud: 460800, model: join(dir, 'new.tflite'), modelOnly: true, verify: true });
      expect(result.regions.map((r) => r.role)).toEqual(['model']);
      expect(result.identity?.modelSha256).toBe(sha(model));
      expect(result.identity?.firmwareVersion).toMatch(/sorter-sim/);
      expect(emulator.appModelSource).toBe('partition');
    } finally {
      emulator.stopApp();
    }
  });

  it('says so when the board runs its built-in model instead of the one that should be there', async () => {
    const { builtin, emulator } = await board();
    const link = await openSerialLink('/dev/ttyEMU0', 115200, emulatorBinding(emulator));
    try {
      // A plain reset boots the app, which finds no model partition and falls back.
      await link.setSignals({ dtr: false, rts: true });
      await link.setSignals({ dtr: false, rts: false });
      const identity = await verifyFlashedBoard(link, 115200, { bootMs: 100 });
      expect(identity.modelSha256).toBe(sha(builtin));
      await expect(verifyFlashedBoard(link, 115200, { bootMs: 0, model: tinyModel(3) })).rejects.toThrow(
        /not the flashed one .*fell back to its built-in model/,
      );
    } finally {
      emulator.stopApp();
      await link.close();
    }
  });
});
