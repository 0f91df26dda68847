/**
 * After a flash the technician gets one line of what the bin now runs: firmware, the model's SHA-256
 * prefix, where the model came from (the model partition, written now or left from an earlier flash, or
 * built into the app) and its class labels, all from the INFO the post-flash check already receives, so
 * a model for other classes is seen at once.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeFlashedIdentity, verifyFlashedBoard } from '../../host/flash/verify.ts';
import type { InfoMessage } from '../../host/link/messages.ts';
import { PROTOCOL_VERSION } from '../../host/link/protocol.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { log } from '../../host/util/log.ts';
import { MODEL_OFFSET, espImage, makeBuildDir } from '../../testing/flash/build-fixture.ts';
import { RomEmulator } from '../../testing/flash/rom-emulator.ts';
import { int8Classifier } from '../export/fixtures.ts';
import { runFlashCommandOn } from '../support/flash-command.ts';
import { bootedBoard } from './booted-board.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sim = resolve(import.meta.dirname, '../../build-host/sim/sorter-sim');
if (!existsSync(sim)) console.warn(`skipping the flash summary on the emulated board: ${sim} is not built (npm test builds it)`);

afterEach(() => vi.restoreAllMocks());

/** An app image that, like the firmware's, carries its built-in model's SHA-256 (kModelSha256). */
function appWithBuiltin(builtinSha: string): Uint8Array {
  const app = espImage(40_000, 3);
  app.set(Buffer.from(builtinSha, 'hex'), 20_000);
  return app;
}


function info(modelSha256: string, labels: string[]): InfoMessage {
  return {
    protocolVersion: PROTOCOL_VERSION, ready: true, bootId: 7, maxPayload: 163840, firmwareVersion: 'v1.0-3-gabc', modelSha256,
    width: 8, height: 8, channels: 3, inputScale: 1, inputZeroPoint: 0, outputScale: 1 / 256, outputZeroPoint: -128,
    numClasses: labels.length, arenaUsedBytes: 0, status: '', labels,
  };
}

describe('the post-flash summary line', () => {
  it('tells the model partition from the built-in model and lists the labels the board reports', async () => {
    const model = writeTflite(int8Classifier({ labels: ['glass', 'metal'] }));
    const builtinSha = 'ab'.repeat(32);
    const app = appWithBuiltin(builtinSha);

    const written = await verifyFlashedBoard(bootedBoard(info(sha(model), ['glass', 'metal'])), 115200, { bootMs: 0, model, app });
    expect(written).toMatchObject({ labels: ['glass', 'metal'], modelSource: 'partition', modelWritten: true });
    expect(describeFlashedIdentity(written)).toBe(
      `the board runs firmware v1.0-3-gabc with model ${sha(model).slice(0, 16)}… from the model partition (written now), 2 classes: glass, metal`,
    );

    const builtin = await verifyFlashedBoard(bootedBoard(info(builtinSha, ['PET', 'HDPE', 'PP'])), 115200, { bootMs: 0, app });
    expect(builtin).toMatchObject({ modelSource: 'built-in', modelWritten: false });
    expect(describeFlashedIdentity(builtin)).toBe('the board runs firmware v1.0-3-gabc with model abababababababab… built into the app, 3 classes: PET, HDPE, PP');

    // The app written without a model, and the board runs another one than the app's: the partition's.
    const left = await verifyFlashedBoard(bootedBoard(info('cd'.repeat(32), ['glass', 'metal'])), 115200, { bootMs: 0, app });
    expect(describeFlashedIdentity(left)).toBe(
      'the board runs firmware v1.0-3-gabc with model cdcdcdcdcdcdcdcd… from the model partition (left from an earlier flash), 2 classes: glass, metal',
    );
  });
});

describe.skipIf(!existsSync(sim))('the summary after flashing the emulated board', () => {
  it('names the partition model written now, the built-in one, and one left from an earlier flash, with their labels', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flash-summary-'));
    const builtin = writeTflite(int8Classifier({ labels: ['PET', 'HDPE', 'PP'] }));
    await writeFile(join(dir, 'builtin.tflite'), builtin);
    await makeBuildDir(join(dir, 'build'), undefined, 'esp32s3', appWithBuiltin(sha(builtin)));
    const other = writeTflite(int8Classifier({ seed: 5, labels: ['glass', 'metal', 'paper', 'cardboard'] }));
    await writeFile(join(dir, 'other.tflite'), other);
    const emulator = new RomEmulator({ app: { simBinary: sim, builtinModel: join(dir, 'builtin.tflite'), modelPartitionOffset: MODEL_OFFSET } });
    const lines: string[] = [];
    vi.spyOn(log, 'info').mockImplementation((m: string) => void lines.push(m));
    const summary = () => lines.filter((l) => l.startsWith('the board runs'));
    const build = join(dir, 'build');
    try {
      await runFlashCommandOn(emulator, { build, baud: 460800, modelOnly: false, verify: true });
      expect(emulator.appModelSource).toBe('built-in');
      expect(summary()).toHaveLength(1);
      expect(summary()[0]).toMatch(new RegExp(`^the board runs firmware .+ with model ${sha(builtin).slice(0, 16)}… built into the app, 3 classes: PET, HDPE, PP$`));

      lines.length = 0;
      await runFlashCommandOn(emulator, { build, baud: 460800, model: join(dir, 'other.tflite'), modelOnly: false, verify: true });
      expect(emulator.appModelSource).toBe('partition');
      expect(summary()).toHaveLength(1);
      expect(summary()[0]).toMatch(
        new RegExp(`^the board runs firmware .+ with model ${sha(other).slice(0, 16)}… from the model partition \\(written now\\), 4 classes: glass, metal, paper, cardboard$`),
      );

      lines.length = 0;
      await runFlashCommandOn(emulator, { build, baud: 460800, modelOnly: false, verify: true });
      expect(summary()).toHaveLength(1);
      expect(summary()[0]).toMatch(
        new RegExp(`with model ${sha(other).slice(0, 16)}… from the model partition \\(left from an earlier flash\\), 4 classes: glass, metal, paper, cardboard$`),
      );
    } finally {
      emulator.stopApp();
    }
  }, 60_000);
});
