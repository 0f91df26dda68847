/**
 * Forward passes of a frozen model on several worker threads, each with its own single-threaded wasm
 * backend: the way to use more than one core for feature extraction in Node, where tfjs-backend-wasm
 * turns its own threading off (upstream tfjs issue #3830). No global is patched: each worker is an
 * ordinary tfjs + wasm instance.
 *
 * The worker is plain JavaScript run with `eval: true` and given absolute module paths, so it works
 * the same from tsx, vitest and the esbuild bundle (which has no separate worker file).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const tf = require(workerData.tfjsPath);
const wasm = require(workerData.wasmPath);
(async () => {
  wasm.setWasmPaths(workerData.wasmDir);
  await tf.setBackend('wasm');
  await tf.ready();
  const model = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: workerData.topology, weightSpecs: workerData.weightSpecs, weightData: workerData.weightData }));
  parentPort.on('message', (m) => {
    try {
      const x = tf.tensor(new Float32Array(m.input), m.shape);
      const y = model.predict(x);
      const out = y.dataSync();
      x.dispose(); y.dispose();
      const buf = out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
      parentPort.postMessage({ id: m.id, output: buf }, [buf]);
    } catch (e) {
      parentPort.postMessage({ id: m.id, error: String(e && e.message || e) });
    }
  });
  parentPort.postMessage({ ready: true });
})().catch((e) => parentPort.postMessage({ fatal: String(e && e.message || e) }));
`;

interface Pending {
  resolve: (v: Float32Array) => void;
  reject: (e: Error) => void;
}

export interface InferencePool {
  readonly size: number;
  /** Output of the model for a batch [n, ...inShape] (row-major). */
  run(input: Float32Array, shape: number[]): Promise<Float32Array>;
  close(): Promise<void>;
}

/** The model's topology and weights in memory, as a worker needs them to rebuild the model. */
export async function modelArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
  return artifacts!;
}

/** Absolute paths a plain-JS worker needs to load tfjs and the wasm backend (see the header). */
export function wasmWorkerPaths(): { tfjsPath: string; wasmPath: string; wasmDir: string } {
  const require = createRequire(import.meta.url);
  return {
    tfjsPath: require.resolve('@tensorflow/tfjs'),
    wasmPath: require.resolve('@tensorflow/tfjs-backend-wasm'),
    wasmDir: join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/',
  };
}

/** Starts `size` workers holding copies of `model`; rejects if any fails to start. */
export async function startInferencePool(model: tf.LayersModel, size: number): Promise<InferencePool> {
  const artifacts = await modelArtifacts(model);
  const workerData = {
    ...wasmWorkerPaths(),
    topology: artifacts.modelTopology,
    weightSpecs: artifacts.weightSpecs,
    weightData: artifacts.weightData,
  };
  const workers: Worker[] = [];
  const pending = new Map<number, Pending>();
  const load: number[] = [];
  let nextId = 0;
  try {
    await Promise.all(
      Array.from({ length: size }, (_, i) => {
        const w = new Worker(WORKER_SOURCE, { eval: true, workerData });
        workers.push(w);
        load.push(0);
        return new Promise<void>((resolve, reject) => {
          w.on('message', (m: { ready?: boolean; fatal?: string; id?: number; output?: ArrayBuffer; error?: string }) => {
            if (m.ready) return resolve();
            if (m.fatal) return reject(new Error(`inference worker ${i}: ${m.fatal}`));
            const p = pending.get(m.id!);
            if (!p) return;
            pending.delete(m.id!);
            load[i]--;
            if (m.error) p.reject(new Error(`inference worker ${i}: ${m.error}`));
            else p.resolve(new Float32Array(m.output!));
          });
          w.on('error', (e) => {
            reject(e);
            for (const p of pending.values()) p.reject(e);
            pending.clear();
          });
        });
      }),
    );
  } catch (e) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw e;
  }
  return {
    size,
    run(input, shape) {
      // Least-loaded worker; the copy is transferred, the caller's array stays usable.
      let best = 0;
      for (let i = 1; i < workers.length; i++) if (load[i] < load[best]) best = i;
      load[best]++;
      const id = nextId++;
      const buf = input.slice().buffer;
      return new Promise<Float32Array>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        workers[best].postMessage({ id, input: buf, shape }, [buf]);
      });
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
