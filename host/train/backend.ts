/**
 * Picks the fastest tfjs backend that works here:
 * 1. `@tensorflow/tfjs-node` (native TensorFlow) when it is installed — it is an optional dependency
 *    that does not install everywhere;
 * 2. the wasm backend (XNNPACK, SIMD) with the three gradient kernels it lacks registered
 *    (wasm-grad-kernels.ts);
 * 3. the pure-JS cpu backend.
 *
 * Threads: tfjs-backend-wasm reports no multithreading under Node (upstream tfjs issue #3830) and
 * loads its single-threaded binary, so `threads` is 1 on wasm; the other cores are used by running
 * feature extraction (features.ts) and the shards of each fine-tuning step (parallel-fit.ts) in worker
 * threads, each with its own wasm backend. See docs/training.md for the measurements.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { cpus } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { log } from '../util/log.ts';
import { registerWasmGradientKernels } from './wasm-grad-kernels.ts';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  name: string;
  threads: number;
}

let current: BackendInfo | undefined;

async function tryTfjsNode(): Promise<boolean> {
  // The name is held in a variable so that neither tsc nor esbuild tries to resolve the optional package.
  const name = '@tensorflow/tfjs-node';
  try {
    await import(name);
    return (await tf.setBackend('tensorflow')) === true;
  } catch {
    return false;
  }
}

async function tryWasm(): Promise<boolean> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    const pkgDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    wasm.setWasmPaths(join(pkgDir, 'dist') + '/');
    registerWasmGradientKernels();
    return (await tf.setBackend('wasm')) === true;
  } catch (e) {
    log.warn(`wasm backend unavailable (${(e as Error).message}); falling back to the slower cpu backend`);
    return false;
  }
}

/**
 * Initialises tfjs once per process. `prefer` forces a backend (tests compare wasm against cpu);
 * `threads` is honoured where the backend can use it (tfjs-node picks its own pool).
 */
export async function initBackend(opts: { threads?: number; prefer?: BackendName } = {}): Promise<BackendInfo> {
  if (current && (!opts.prefer || current.name === opts.prefer)) return current;
  const order: BackendName[] = opts.prefer ? [opts.prefer] : ['tensorflow', 'wasm', 'cpu'];
  for (const name of order) {
    if (name === 'tensorflow' && (await tryTfjsNode())) {
      current = { name: 'tensorflow', threads: opts.threads ?? cpus().length };
      break;
    }
    if (name === 'wasm' && (await tryWasm())) {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      current = { name: 'wasm', threads: Math.max(1, wasm.getThreadsCount()) };
      break;
    }
    if (name === 'cpu') {
      await tf.setBackend('cpu');
      current = { name: 'cpu', threads: 1 };
      break;
    }
  }
  if (!current) throw new Error(`backend ${opts.prefer} could not be initialised`);
  await tf.ready();
  return current;
}

/** How many worker threads feature extraction may use: `--threads`, else the CPU count, at least 1. */
export function workerCount(requested?: number): number {
  return Math.max(1, requested ?? cpus().length);
}
