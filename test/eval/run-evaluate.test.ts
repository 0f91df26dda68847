/**
 * `plastisort evaluate RUN` and `plastisort compare` end to end on a tiny run folder built here: a
 * tfjs model (global average pooling → dense softmax) whose weights classify an image by its dominant
 * colour, saved the way the trainer saves runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import type { ManifestItem, SplitManifest } from '../../host/data/manifest.ts';
import { writeManifest } from '../../host/data/manifest-io.ts';
import { runCompare, runEvaluate } from '../../host/eval/run-evaluate.ts';
import { saveModel } from '../../host/train/run-folder.ts';
import { initBackend } from '../../host/train/backend.ts';

const classes = ['red', 'green', 'blue'];
const paint: Record<string, [number, number, number]> = { red: [220, 30, 30], green: [30, 200, 40], blue: [20, 40, 230] };
let root: string;
let manifestPath: string;

async function makeRun(dir: string, name: string, kernel: number[][], stage: 'baseline' | 'finetune', parent?: string) {
  await initBackend({ prefer: 'cpu' });
  const input = tf.input({ shape: [8, 8, 3] });
  const pooled = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(input);
  const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'predictions' }).apply(pooled) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  model.getLayer('predictions').setWeights([tf.tensor2d(kernel), tf.zeros([3])]);
  const runDir = join(dir, name);
  await saveModel(model, join(runDir, 'model'));
  model.dispose();
  const manifestSha = createHash('sha256').update(readFileSync(manifestPath)).digest('hex');
  const config = {
    schema: 'plastisort.run/1',
    runId: name,
    stage,
    createdAt: '2026-01-01T00:00:00Z',
    classes,
    manifest: { path: manifestPath, sha256: manifestSha },
    backbone: { kind: 'tfjs', source: 'test', sha256: '0'.repeat(64) },
    inputSize: 8,
    resize: 'squash',
    floatScaling: { scale: 1 / 255, offset: 0 },
    ...(parent ? { parent: { path: parent, runId: 'base' } } : {}),
  };
  writeFileSync(join(runDir, 'config.json'), JSON.stringify(config));
  writeFileSync(
    join(runDir, 'history.json'),
    JSON.stringify({ stage, bestEpoch: 2, stoppedEarly: false, epochs: [1, 2, 3].map((e) => ({ epoch: e, loss: 1 / e, accuracy: 0.5 + e / 10, valLoss: 1.1 / e, valAccuracy: 0.45 + e / 10, seconds: 1, imagesPerSecond: 10 })) }),
  );
  return runDir;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'plastisort-runeval-'));
  const data = join(root, 'data');
  const items: ManifestItem[] = [];
  for (const [label, cls] of classes.entries()) {
    await mkdir(join(data, cls), { recursive: true });
    for (let i = 0; i < 4; i++) {
      // green's last image is painted blue: a colour rule gets it wrong
      const c = cls === 'green' && i === 3 ? paint.blue! : paint[cls]!;
      const rel = `${cls}/${i}.png`;
      await sharp({ create: { width: 12, height: 10, channels: 3, background: { r: c[0], g: c[1], b: c[2] } } }).png().toFile(join(data, rel));
      const sha = createHash('sha256').update(readFileSync(join(data, rel))).digest('hex');
      items.push({ path: rel, sha256: sha, fileSha256: sha, phash: 'ff', width: 12, height: 10, class: cls, label, split: i < 3 ? 'test' : 'val', source: '', group: items.length });
    }
  }
  // the mis-painted green is in val; put one more into test by moving green/3 there
  items.find((it) => it.path === 'green/3.png')!.split = 'test';
  const counts = Object.fromEntries(classes.map((c) => [c, { train: 0, val: 0, test: 0 }]));
  for (const it of items) counts[it.class]![it.split]++;
  const manifest: SplitManifest = {
    schema: 'plastisort.split-manifest/1',
    root: data,
    classes,
    seed: 1,
    ratios: { train: 0, val: 25, test: 75 },
    dedup: { phashBits: 8, maxHamming: 0 },
    items,
    counts,
    dropped: [],
    conflicts: [],
    duplicateGroups: 0,
  };
  manifestPath = join(root, 'split.json');
  await writeManifest(manifestPath, manifest);
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('runEvaluate / runCompare on run folders', () => {
  it('evaluates a run into its folder, then compares two runs', async () => {
    process.env.PLASTISORT_QUIET = '1';
    const identity = [
      [10, 0, 0],
      [0, 10, 0],
      [0, 0, 10],
    ];
    const base = await makeRun(root, 'base', identity.map((r) => [...r].reverse()), 'baseline');
    const ft = await makeRun(root, 'ft', identity, 'finetune', base);

    const r = await runEvaluate({ target: ft, bootstrap: 100 });
    expect(r.outDir).toBe(ft);
    expect(r.metrics.n).toBe(10);
    expect(r.metrics.confusion).toEqual([
      [3, 0, 0],
      [0, 3, 1],
      [0, 0, 3],
    ]);
    expect(r.metrics.source).toMatchObject({ kind: 'run', runId: 'ft' });
    for (const f of ['metrics.json', 'metrics.md', 'predictions.json', 'confusion.svg', 'confusion.png', 'training-curves.svg', 'training-curves.png', 'errors.png']) {
      expect(existsSync(join(ft, f)), f).toBe(true);
    }
    // the fine-tuned run's curves include the parent baseline's epochs
    expect(readFileSync(join(ft, 'training-curves.svg'), 'utf8')).toContain('>baseline<');

    const rb = await runEvaluate({ target: base, bootstrap: 0, split: 'test' });
    // the base kernel maps red→blue, green→green, blue→red
    expect(rb.metrics.confusion).toEqual([
      [0, 0, 3],
      [1, 3, 0],
      [3, 0, 0],
    ]);

    const c = await runCompare(base, ft, { top: 3 });
    expect(c.a.label).toBe('baseline (base)');
    expect(c.b.label).toBe('finetune (ft)');
    expect(c.text).toContain('| **accuracy** |  |  |  |  | 0.300 | 0.900 | +0.600 | 10 |');
    expect(c.changes.map((x) => `${x.trueClass}>${x.predictedClass}:${x.delta}`).sort()).toEqual(['blue>red:-3', 'green>blue:1', 'green>red:-1', 'red>blue:-3']);
    expect(c.text.split('Confusion pairs')[1]!.match(/^\| (red|blue|green) \|/gm)).toHaveLength(3); // --top 3
    // Image by image: the baseline's 7 mistakes and the fine-tuned run's 1, over the same 10 images.
    const im = c.images!;
    expect(im.common).toBe(10);
    expect(im).toEqual({ common: 10, both: ['green/3.png'], sameClass: 0, fixed: ['red/0.png', 'red/1.png', 'red/2.png', 'blue/0.png', 'blue/1.png', 'blue/2.png'], broken: [] });
    expect(c.text).toContain('| wrong in both | 1 (0 as the same class) |');
    expect(c.text).toContain(`| wrong in baseline (base) only (fixed by finetune (ft)) | ${im.fixed.length} |`);
  }, 60_000);

  it('refuses bad targets and another class list with one-line messages', async () => {
    await expect(runEvaluate({ target: join(root, 'nope') })).rejects.toThrow(/no such run folder or \.tflite file/);
    await expect(runEvaluate({ target: join(root, 'data') })).rejects.toThrow(/not a run folder \(no config\.json\)/);
    await expect(runEvaluate({ target: join(root, 'ft'), split: 'dev' })).rejects.toThrow(/--split "dev" is not a split/);
    const other = await makeRun(root, 'other', [[1, 0, 0], [0, 1, 0], [0, 0, 1]], 'baseline');
    const cfg = JSON.parse(readFileSync(join(other, 'config.json'), 'utf8'));
    writeFileSync(join(other, 'config.json'), JSON.stringify({ ...cfg, classes: ['a', 'b', 'c'] }));
    await expect(runEvaluate({ target: other })).rejects.toThrow(/predicts classes \[a, b, c\] but the manifest has \[red, green, blue\]/);
    await expect(runCompare(join(root, 'data'), join(root, 'ft'))).rejects.toThrow(/metrics\.json: not found; run plastisort evaluate/);
  }, 60_000);
});
