/**
 * Locates (building it when needed) the int8 reference engine's `int8-run` tool and runs it on raw
 * int8 inputs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');

/**
 * PLASTISORT_INT8_RUN, else build-host/int8_engine/int8-run from `npm test`'s native build, else a
 * standalone build of just the engine under build-host/int8-engine-standalone.
 */
export function int8RunPath(): string {
  const fromEnv = process.env.PLASTISORT_INT8_RUN;
  if (fromEnv) return fromEnv;
  const main = join(root, 'build-host', 'int8_engine', 'int8-run');
  if (existsSync(main)) return main;
  const dir = join(root, 'build-host', 'int8-engine-standalone');
  const tool = join(dir, 'int8_engine', 'int8-run');
  if (!existsSync(join(dir, 'CMakeCache.txt'))) {
    execFileSync('cmake', ['-S', join(root, 'firmware/sim/int8_engine/tools/standalone'), '-B', dir], { stdio: 'ignore' });
  }
  // Incremental: a no-op when up to date, a rebuild when the engine sources changed.
  execFileSync('cmake', ['--build', dir, '--target', 'int8-run', '-j', '2'], { stdio: 'ignore' });
  return tool;
}

export interface RunOptions {
  /** Engine arithmetic: TFLM double/single rounding, or LiteRT's XNNPACK arithmetic. */
  rounding?: 'single' | 'double' | 'xnnpack';
}

/** Runs `inputs` (each the raw bytes of one model input) and returns the raw output bytes of each. */
export function runInt8(model: Uint8Array, inputs: Uint8Array[], opts: RunOptions = {}): Uint8Array[] {
  const dir = mkdtempSync(join(tmpdir(), 'int8-run-'));
  try {
    const modelPath = join(dir, 'model.tflite');
    const inPath = join(dir, 'in.bin');
    const outPath = join(dir, 'out.bin');
    writeFileSync(modelPath, model);
    writeFileSync(inPath, Buffer.concat(inputs.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))));
    execFileSync(int8RunPath(), [modelPath, inPath, outPath, '--rounding', opts.rounding ?? 'double'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const out = new Uint8Array(readFileSync(outPath));
    const each = out.length / inputs.length;
    return inputs.map((_, i) => out.slice(i * each, (i + 1) * each));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
