// Benchmark: `data split` over plastic6 (1,438 photos) — wall time, CPU time, images/s, peak RSS —
// plus synthetic-data generation throughput and how hard the synthetic task is for a linear probe on
// frozen MobileNetV2 (ImageNet) features. Writes bench/results/data-split.json.
// Run: npm run bench -- data-split   (the machine may be shared: load average is recorded too)
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { splitDataset } from '../host/data/split.ts';
import { writeManifest } from '../host/data/manifest-io.ts';
import { generateSynthDataset } from '../host/data/synth.ts';
import { writeJsonAtomic } from '../host/util/atomic.ts';
import { loadImageRgb, manifestItemPath } from '../host/data/images.ts';
import { createRng } from '../host/util/rng.ts';
import { initBackend } from '../host/train/backend.ts';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';

const BACKBONE = '/work/shared/backbones/mobilenet_v2_1.0_224_imagenet/tfjs';

/**
 * Linear probe on the synthetic set: split it with splitDataset (70/15/15), pool MobileNetV2 features
 * of each image (224 px, squash, x/127.5 − 1), fit a softmax layer on train, report val/test accuracy.
 */
async function synthProbe(dir: string): Promise<Record<string, unknown>> {
  if (!existsSync(join(BACKBONE, 'model.json'))) return { skipped: `${BACKBONE} absent` };
  const backend = await initBackend();
  const mj = JSON.parse(readFileSync(join(BACKBONE, 'model.json'), 'utf8'));
  const groups = mj.weightsManifest as Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  const buf = Buffer.concat(groups.flatMap((g) => g.paths).map((p) => readFileSync(join(BACKBONE, p))));
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: mj.modelTopology,
      weightSpecs: groups.flatMap((g) => g.weights),
      weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer,
    }),
  );
  const feat = tf.model({ inputs: model.inputs, outputs: model.getLayer('global_average_pooling2d').output as tf.SymbolicTensor });
  const { manifest } = await splitDataset({ data: dir, seed: 1, progress: false });
  const S = 224;
  const t0 = performance.now();
  const features: number[][] = [];
  for (let b = 0; b < manifest.items.length; b += 16) {
    const rgb = await Promise.all(manifest.items.slice(b, b + 16).map((it) => loadImageRgb(manifestItemPath(manifest, it), S, 'squash')));
    const x = tf.tidy(() => tf.stack(rgb.map((r) => tf.tensor3d(r, [S, S, 3], 'int32'))).toFloat().div(127.5).sub(1));
    const f = feat.predict(x) as tf.Tensor;
    features.push(...((await f.array()) as number[][]));
    tf.dispose([x, f]);
  }
  const featureSeconds = (performance.now() - t0) / 1000;
  const idx = (s: string) => manifest.items.flatMap((it, i) => (it.split === s ? [i] : []));
  const [tr, va, te] = [idx('train'), idx('val'), idx('test')];
  // Items are sorted by path (class by class): shuffle the training order once, with a fixed seed.
  const rng = createRng(1);
  for (let i = tr.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [tr[i], tr[j]] = [tr[j]!, tr[i]!];
  }
  const head = tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [features[0]!.length],
        units: manifest.classes.length,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
    ],
  });
  head.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy' });
  await head.fit(tf.tensor2d(tr.map((i) => features[i]!)), tf.tensor1d(tr.map((i) => manifest.items[i]!.label), 'float32'), {
    epochs: 60,
    batchSize: 32,
    shuffle: false, // already shuffled above, deterministically
    verbose: 0,
  });
  const accuracy = (ids: number[]) => {
    const pred = tf.tidy(() => (head.predict(tf.tensor2d(ids.map((i) => features[i]!))) as tf.Tensor).argMax(1).dataSync());
    return ids.filter((i, k) => pred[k] === manifest.items[i]!.label).length / ids.length;
  };
  return {
    protocol: 'synth 6×60 at 160 px, seed 1; data split 70/15/15 seed 1; MobileNetV2 ImageNet (shared tfjs) pooled features at 224 squash; softmax layer, Adam 0.01, 60 epochs, fixed shuffled order',
    backend: backend.name,
    images: manifest.items.length,
    featureSeconds,
    trainImages: tr.length,
    valAccuracy: accuracy(va),
    testAccuracy: accuracy(te),
    testImages: te.length,
  };
}

const DATA = '/work/shared/datasets/plastic6/images';
const OUT = resolve(import.meta.dirname, 'results', 'data-split.json');

if (!existsSync(DATA)) {
  console.error(`data-split bench: ${DATA} is absent; nothing measured`);
  process.exit(0);
}
const tmp = await mkdtemp(join(tmpdir(), 'plastisort-bench-split-'));
try {
  const load = loadavg()[0];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { manifest } = await splitDataset({ data: DATA, seed: 1, progress: false });
  await writeManifest(join(tmp, 'split.json'), manifest);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const splitPeakRssMiB = process.resourceUsage().maxRSS / 1024;
  const files = manifest.items.length + manifest.dropped.length;

  const s0 = performance.now();
  const synth = await generateSynthDataset({ out: join(tmp, 'synth'), perClass: 100, size: 160, seed: 1, progress: false });
  const synthWall = (performance.now() - s0) / 1000;
  const probeDir = join(tmp, 'synth-probe');
  await generateSynthDataset({ out: probeDir, perClass: 60, size: 160, seed: 1, progress: false });
  const probe = await synthProbe(probeDir);

  const result = {
    benchmark: 'data-split',
    command: 'npm run bench -- data-split',
    date: new Date().toISOString(),
    cpus: cpus().length,
    node: process.version,
    loadAverage1mAtStart: load,
    split: {
      data: 'plastic6 (/work/shared/datasets/plastic6/images)',
      files,
      kept: manifest.items.length,
      duplicateGroups: manifest.duplicateGroups,
      conflicts: manifest.conflicts.length,
      wallSeconds: wall,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      imagesPerSecond: files / wall,
      targetWallSeconds: 30,
      meetsTarget: wall < 30,
      peakRssMiB: splitPeakRssMiB,
    },
    synth: {
      images: synth.files,
      size: synth.size,
      wallSeconds: synthWall,
      imagesPerMinute: (synth.files / synthWall) * 60,
      linearProbe: probe,
    },
    processPeakRssMiBWithProbe: process.resourceUsage().maxRSS / 1024,
  };
  await writeJsonAtomic(OUT, result);
  console.log(JSON.stringify(result, null, 2));
} finally {
  await rm(tmp, { recursive: true, force: true });
}
