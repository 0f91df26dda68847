/**
 * Fixtures for the HIL tests: a tiny int8 classifier written with the project's TFLite writer, and a
 * small split manifest over generated images.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { Quantization, Tensor, TensorType, TfliteModel } from '../../host/tflite/model.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { withPlastisortMetadata } from '../../host/tflite/plastisort-metadata.ts';
import type { ManifestItem, SplitManifest } from '../../host/data/manifest.ts';
import { findSimBinary } from '../../host/link/sim-process.ts';
import { createRng } from '../../host/util/rng.ts';

export const CLASSES = ['HDPE', 'LDPE', 'PET', 'PP', 'PS', 'PVC'];
export const SIZE = 24;


const q = (scale: number, zeroPoint: number): Quantization => ({ scale: [scale], zeroPoint: [zeroPoint] });
const bytesOf = (a: Int8Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * input [1,24,24,3] → CONV_2D 3×3/2 (RELU6, per-channel) → DEPTHWISE_CONV_2D 3×3 (RELU) → MEAN over
 * H,W → FULLY_CONNECTED → SOFTMAX; int8 throughout, `seed` changes the weights (and so the hash).
 */
export function tinyModel(seed = 1): Uint8Array {
  const r = createRng(seed);
  const m: TfliteModel = { version: 3, description: 'hil test model', tensors: [], operators: [], inputs: [], outputs: [], buffers: [new Uint8Array(0)], metadata: {} };
  const act = (name: string, shape: number[], quant: Quantization, type: TensorType = 'int8') => {
    const t: Tensor = { name, shape, type, buffer: 0, quantization: quant };
    m.tensors.push(t);
    return m.tensors.length - 1;
  };
  const konst = (name: string, shape: number[], type: TensorType, data: Uint8Array, quant?: Quantization) => {
    m.buffers.push(data);
    const t: Tensor = { name, shape, type, buffer: m.buffers.length - 1 };
    if (quant) t.quantization = quant;
    m.tensors.push(t);
    return m.tensors.length - 1;
  };
  const i8 = (n: number) => Int8Array.from({ length: n }, () => Math.floor(r() * 255) - 127);
  const inScale = 1 / 127.5;
  const x = act('input', [1, SIZE, SIZE, 3], q(inScale, -1));
  const c = 8;
  const w1s = Array.from({ length: c }, () => 0.002 + r() * 0.01);
  const w1 = konst('conv/w', [c, 3, 3, 3], 'int8', bytesOf(i8(c * 27)), { scale: w1s, zeroPoint: w1s.map(() => 0), quantizedDimension: 0 });
  const b1 = konst('conv/b', [c], 'int32', bytesOf(Int32Array.from({ length: c }, () => Math.floor(r() * 2000) - 1000)), { scale: w1s.map((s) => s * inScale), zeroPoint: w1s.map(() => 0), quantizedDimension: 0 });
  const t1 = act('conv', [1, SIZE / 2, SIZE / 2, c], q(6 / 255, -128));
  const w2s = Array.from({ length: c }, () => 0.005 + r() * 0.02);
  const w2 = konst('dw/w', [1, 3, 3, c], 'int8', bytesOf(i8(9 * c)), { scale: w2s, zeroPoint: w2s.map(() => 0), quantizedDimension: 3 });
  const b2 = konst('dw/b', [c], 'int32', bytesOf(Int32Array.from({ length: c }, () => Math.floor(r() * 200) - 100)), { scale: w2s.map((s) => (s * 6) / 255), zeroPoint: w2s.map(() => 0), quantizedDimension: 0 });
  const t2 = act('dw', [1, SIZE / 2, SIZE / 2, c], q(0.03, -128));
  const axes = konst('mean/axes', [2], 'int32', bytesOf(Int32Array.from([1, 2])));
  const t3 = act('mean', [1, c], q(0.02, -128));
  const k = CLASSES.length;
  const w4s = 0.01;
  const w4 = konst('fc/w', [k, c], 'int8', bytesOf(i8(k * c)), q(w4s, 0));
  const b4 = konst('fc/b', [k], 'int32', bytesOf(Int32Array.from({ length: k }, () => Math.floor(r() * 400) - 200)), q(w4s * 0.02, 0));
  const t4 = act('logits', [1, k], q(0.05, 3));
  const t5 = act('probs', [1, k], q(1 / 256, -128));
  const same = { padding: 'SAME', dilationW: 1, dilationH: 1 } as const;
  m.operators.push(
    { op: 'CONV_2D', inputs: [x, w1, b1], outputs: [t1], options: { ...same, strideW: 2, strideH: 2, fusedActivation: 'RELU6' } },
    { op: 'DEPTHWISE_CONV_2D', inputs: [t1, w2, b2], outputs: [t2], options: { ...same, strideW: 1, strideH: 1, fusedActivation: 'RELU', depthMultiplier: 1 } },
    { op: 'MEAN', inputs: [t2, axes], outputs: [t3], options: { keepDims: false } },
    { op: 'FULLY_CONNECTED', inputs: [t3, w4, b4], outputs: [t4], options: { fusedActivation: 'NONE', keepNumDims: false } },
    { op: 'SOFTMAX', inputs: [t4], outputs: [t5], options: { beta: 1 } },
  );
  m.inputs = [x];
  m.outputs = [t5];
  const withMeta = withPlastisortMetadata(m, {
    schema: 'plastisort.model/1',
    labels: CLASSES,
    inputSize: SIZE,
    inputContract: 'rgb888_minus_128',
    floatScaling: { scale: 1 / 127.5, offset: -1 },
    resize: 'squash',
  });
  return writeTflite(withMeta);
}

/** Writes `perClass` generated PNGs per class under dir/images and a manifest putting them all in `test`. */
export async function tinyDataset(dir: string, perClass: number): Promise<string> {
  const r = createRng(42);
  const items: ManifestItem[] = [];
  const counts: SplitManifest['counts'] = {};
  for (const [label, cls] of CLASSES.entries()) {
    counts[cls] = { train: 0, val: 0, test: perClass };
    mkdirSync(join(dir, 'images', cls), { recursive: true });
    for (let n = 0; n < perClass; n++) {
      const w = 32 + (n % 3) * 8;
      const px = Buffer.alloc(w * 32 * 3);
      for (let i = 0; i < px.length; i++) px[i] = Math.floor(r() * 256) ^ (label * 40);
      const rel = `images/${cls}/${n}.png`;
      const file = join(dir, rel);
      if (!existsSync(file)) await sharp(px, { raw: { width: w, height: 32, channels: 3 } }).png().toFile(file);
      const h = createHash('sha256').update(px).digest('hex');
      const fileSha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
      items.push({ path: rel, sha256: h, fileSha256, phash: '0f', width: w, height: 32, class: cls, label, split: 'test', source: '', group: items.length });
    }
  }
  const manifest: SplitManifest = {
    schema: 'plastisort.split-manifest/1',
    root: '.',
    classes: CLASSES,
    seed: 1,
    ratios: { train: 0, val: 0, test: 100 },
    dedup: { phashBits: 64, maxHamming: 0 },
    items,
    counts,
    dropped: [],
    conflicts: [],
    duplicateGroups: 0,
  };
  const path = join(dir, 'split.json');
  writeFileSync(path, JSON.stringify(manifest, null, 1));
  return path;
}

export function simBinary(): string | null {
  try {
    return findSimBinary();
  } catch {
    return null;
  }
}

/**
 * A minimal run folder (plastisort.run/1): global average pooling and a dense softmax over `classes`
 * (by default the same classes as tinyModel); `config` adds or replaces fields of its config.json.
 */
export async function tinyFloatRun(dir: string, classes: readonly string[] = CLASSES, config: Record<string, unknown> = {}): Promise<string> {
  const tf = await import('@tensorflow/tfjs');
  const { saveModel } = await import('../../host/train/run-folder.ts');
  const { initBackend } = await import('../../host/train/backend.ts');
  await initBackend();
  const input = tf.input({ shape: [SIZE, SIZE, 3] });
  const pooled = tf.layers.globalAveragePooling2d({}).apply(input) as import('@tensorflow/tfjs').SymbolicTensor;
  const out = tf.layers.dense({ units: classes.length, activation: 'softmax', kernelInitializer: tf.initializers.randomNormal({ seed: 3 }) }).apply(pooled) as import('@tensorflow/tfjs').SymbolicTensor;
  await saveModel(tf.model({ inputs: input, outputs: out }), join(dir, 'model'));
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      schema: 'plastisort.run/1', runId: 'tiny', stage: 'baseline', createdAt: '2026-01-01T00:00:00Z', classes,
      inputSize: SIZE, resize: 'squash', floatScaling: { scale: 1 / 127.5, offset: -1 }, ...config,
    }),
  );
  return dir;
}
