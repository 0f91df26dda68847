import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EmulatedAppOptions {
  simBinary: string;
  builtinModel: string;
  modelPartitionOffset: number;
}

/** The model partition's model when its header is intact (magic, length, SHA-256), as the firmware checks. */
export function partitionModel(flash: Uint8Array, offset: number): Uint8Array | undefined {
  const h = flash.subarray(offset, offset + 64);
  const v = new DataView(h.buffer, h.byteOffset, 64);
  if (new TextDecoder().decode(h.subarray(0, 4)) !== 'PSMD') return undefined;
  const len = v.getUint32(8, true);
  if (len === 0 || offset + 64 + len > flash.length) return undefined;
  const model = flash.subarray(offset + 64, offset + 64 + len);
  const sha = createHash('sha256').update(model).digest();
  return sha.equals(Buffer.from(h.subarray(16, 48))) ? model : undefined;
}

/**
 * The app a booted board runs: the host simulator on stdio, serving the application protocol with the
 * model found in the model partition (when its header is valid) or else the built-in model, as the
 * firmware does.
 */
export function startEmulatedApp(
  app: EmulatedAppOptions,
  flash: Uint8Array,
  toHost: (bytes: Uint8Array) => void,
): { process: ChildProcessWithoutNullStreams; modelSource: 'partition' | 'built-in' } {
  const fromPartition = partitionModel(flash, app.modelPartitionOffset);
  let modelPath = app.builtinModel;
  if (fromPartition) {
    modelPath = join(mkdtempSync(join(tmpdir(), 'emu-model-')), 'model.tflite');
    writeFileSync(modelPath, fromPartition);
  }
  const child = spawn(app.simBinary, ['--model', modelPath, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout.on('data', (b: Buffer) => toHost(new Uint8Array(b)));
  child.stderr.resume();
  child.stdin.on('error', () => {});
  return { process: child, modelSource: fromPartition ? 'partition' : 'built-in' };
}
