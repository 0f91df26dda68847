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

/** stderr lines written while `fn` runs (progress bars and all). */
async function stderrOf<T>(fn: () => Promise<T>): Promise<{ value: T; stderr: string }> {
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((c: string | Uint8Array) => (chunks.push(String(c)), true)) as typeof process.stderr.write;
  try {
    const value = await fn();
    return { value, stderr: chunks.join('') };
  } finally {
    process.stderr.write = write;
  }
}

/**
 * The test fixture's manifest with `change` applied to its items (counts recomputed), written to `name`.
 * The fixture's photos of a class are identical; here each item gets a pixel hash of its own, except
 * where `change` sets one.
 */
async function variant(name: string, change: (items: ManifestItem[]) => ManifestItem[], seed = 1): Promise<string> {
  const { readManifest } = await import('../../host/data/manifest-io.ts');
  const { manifest } = await readManifest(manifestPath);
  const items = change(manifest.items.map((it) => ({ ...it, sha256: createHash('sha256').update(it.path).digest('hex') })));
  const counts = Object.fromEntries(classes.map((c) => [c, { train: 0, val: 0, test: 0 }]));
  for (const it of items) counts[it.class]![it.split]++;
  const path = join(root, name);
  await writeManifest(path, { ...manifest, seed, items, counts });
  return path;
}

describe('evaluate on another manifest than the run was trained on', () => {
  it('counts the evaluated images that were training images of the run\'s own manifest, records it, and says when it cannot', async () => {
    delete process.env.PLASTISORT_QUIET;
    const trained = ['red/0.png', 'green/0.png', 'blue/0.png'];
    // s1: three of the test images moved to train; the run is trained on it
    const s1 = await variant('s1.json', (items) => items.map((it) => (trained.includes(it.path) ? { ...it, split: 'train' } : it)));
    const run = await makeRun(root, 'leaky', [[10, 0, 0], [0, 10, 0], [0, 0, 10]], 'baseline');
    const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    cfg.manifest = { path: s1, sha256: createHash('sha256').update(readFileSync(s1)).digest('hex') };
    writeFileSync(join(run, 'config.json'), JSON.stringify(cfg));

    // the fixture's split: every one of its 10 test images is scored, 3 of them were s1's training images
    const all = await variant('all.json', (items) => items);
    const leaky = await stderrOf(() => runEvaluate({ target: run, manifest: all, bootstrap: 0, skipVerify: true }));
    expect(leaky.value.metrics.overlap).toEqual({ checked: true, manifest: s1, trainImages: 3, valImages: 0 });
    const warn = leaky.stderr.split('\n').filter((l) => l.startsWith('warning: '));
    expect(warn).toHaveLength(1);
    expect(warn[0]).toContain('3 of its 10 test images were training images and 0 validation images of');
    expect(JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8')).overlap).toMatchObject({ checked: true, trainImages: 3 });
    expect(readFileSync(join(run, 'metrics.md'), 'utf8')).toContain('3 of the 10 images were its training images');

    // the val split of the fixture holds s1's two val images: counted as validation images
    const val = await stderrOf(() => runEvaluate({ target: run, manifest: all, split: 'val', bootstrap: 0, skipVerify: true }));
    expect(val.value.metrics.overlap).toEqual({ checked: true, manifest: s1, trainImages: 0, valImages: 2 });

    // by content: a copy of a training photo under another name counts as one
    const copy = await variant('copy.json', (items) =>
      items.filter((it) => !trained.includes(it.path)).map((it) => (it.path === 'red/1.png' ? { ...it, sha256: createHash('sha256').update('red/0.png').digest('hex') } : it)),
    );
    const copied = await stderrOf(() => runEvaluate({ target: run, manifest: copy, bootstrap: 0, skipVerify: true }));
    expect(copied.value.metrics.overlap).toEqual({ checked: true, manifest: s1, trainImages: 1, valImages: 0 });

    // a manifest whose test images are none of s1's training or validation images: a note, not the warning
    const clean = await variant('clean.json', (items) => items.filter((it) => !trained.includes(it.path)));
    const ok = await stderrOf(() => runEvaluate({ target: run, manifest: clean, bootstrap: 0, skipVerify: true }));
    expect(ok.value.metrics.overlap).toEqual({ checked: true, manifest: s1, trainImages: 0, valImages: 0 });
    expect(ok.stderr).not.toMatch(/^warning: /m);
    expect(ok.stderr).toContain('none of its 7 test images was a training or validation image of');

    // s1 re-split in place (same path, other bytes): the overlap cannot be checked, and says so
    await variant('s1.json', (items) => items, 2);
    const resplit = await stderrOf(() => runEvaluate({ target: run, bootstrap: 0, skipVerify: true }));
    expect(resplit.value.metrics.overlap).toEqual({ checked: false, manifest: s1, reason: 'changed' });
    expect(resplit.stderr).toMatch(/^warning: .*s1\.json is not the manifest .* changed since training, so overlap .* could not be checked/m);
    expect(readFileSync(join(run, 'metrics.md'), 'utf8')).toContain('overlap with its training images not checked');

    // the run's own manifest: no overlap record, no warning
    cfg.manifest = { path: manifestPath, sha256: createHash('sha256').update(readFileSync(manifestPath)).digest('hex') };
    writeFileSync(join(run, 'config.json'), JSON.stringify(cfg));
    const own = await stderrOf(() => runEvaluate({ target: run, bootstrap: 0, skipVerify: true }));
    expect(own.value.metrics.overlap).toBeUndefined();
    expect(own.stderr).not.toMatch(/^warning: /m);
  }, 60_000);
});

describe('evaluate --limit and compare of different image sets', () => {
  it('records the limit, and compare warns when the two did not score the same images', async () => {
    process.env.PLASTISORT_QUIET = '1';
    const run = await makeRun(root, 'limited', [[10, 0, 0], [0, 10, 0], [0, 0, 10]], 'baseline');
    const full = await runEvaluate({ target: run, out: join(root, 'full-eval'), bootstrap: 0 });
    const part = await runEvaluate({ target: run, out: join(root, 'part-eval'), bootstrap: 0, limit: 4 });
    expect(full.metrics.limit).toBeUndefined();
    expect(part.metrics).toMatchObject({ n: 4, limit: 4, splitImages: 10 });
    expect(JSON.parse(readFileSync(join(root, 'part-eval', 'metrics.json'), 'utf8'))).toMatchObject({ n: 4, limit: 4, splitImages: 10 });
    expect(readFileSync(join(root, 'part-eval', 'metrics.md'), 'utf8')).toContain('split: test (4 images, the first 4 of its 10 (--limit 4))');

    await runEvaluate({ target: run, out: join(root, 'full-eval2'), bootstrap: 0 });
    const same = await stderrOf(() => runCompare(join(root, 'full-eval'), join(root, 'full-eval2')));
    expect(same.value.warnings).toEqual([]);
    expect(same.value.imageSets).toEqual({ a: 10, b: 10, common: 10, same: true });

    const c = await stderrOf(() => runCompare(join(root, 'full-eval'), join(root, 'part-eval')));
    expect(c.value.imageSets).toEqual({ a: 10, b: 4, common: 4, same: false });
    expect(c.value.warnings).toHaveLength(1);
    expect(c.value.warnings[0]).toContain('differ in images scored (full-eval: 10, part-eval: 4 (--limit 4 of 10), 4 in common)');
    expect(c.value.differs).toEqual(['images']);
    expect(c.stderr.split('\n').filter((l) => l.startsWith('warning: '))).toEqual([`warning: ${c.value.warnings[0]}`]);

    // without predictions.json, the recorded limit still tells
    rmSync(join(root, 'part-eval', 'predictions.json'));
    const d = await runCompare(join(root, 'full-eval'), join(root, 'part-eval'));
    expect(d.imageSets).toEqual({ a: 10, b: 4, same: false });
    expect(d.warnings[0]).toContain('which in common unknown');
  }, 60_000);
});

describe('compare names what differs between the two evaluations', () => {
  it('the split, the manifest, the images; and the heading takes the split from the evaluations', async () => {
    process.env.PLASTISORT_QUIET = '1';
    const run = await makeRun(root, 'cmp', [[10, 0, 0], [0, 10, 0], [0, 0, 10]], 'baseline');
    await runEvaluate({ target: run, out: join(root, 'cmp-test'), bootstrap: 0 });
    await runEvaluate({ target: run, out: join(root, 'cmp-val'), split: 'val', bootstrap: 0 });
    await runEvaluate({ target: run, out: join(root, 'cmp-val2'), split: 'val', bootstrap: 0 });

    // two val evaluations: the heading says val, and nothing differs
    const vv = await runCompare(join(root, 'cmp-val'), join(root, 'cmp-val2'));
    expect(vv.text.split('\n')[0]).toBe('## cmp-val vs cmp-val2 (val split, 2 vs 2 images)');
    expect(vv.warnings).toEqual([]);

    // test against val: the split (and so the images) differ
    const tv = await runCompare(join(root, 'cmp-test'), join(root, 'cmp-val'));
    expect(tv.text.split('\n')[0]).toBe('## cmp-test vs cmp-val (test vs val split, 10 vs 2 images)');
    expect(tv.differs).toEqual(['split', 'images']);
    expect(tv.warnings[0]).toContain('differ in split (cmp-test: test, cmp-val: val) and images scored (cmp-test: 10, cmp-val: 2, 0 in common)');

    // the same test images through another manifest file (re-written with another seed): only the manifest differs
    const other = await variant('same-test.json', (items) => items, 7);
    await runEvaluate({ target: run, manifest: other, out: join(root, 'cmp-other'), bootstrap: 0, skipVerify: true });
    const mo = await stderrOf(() => runCompare(join(root, 'cmp-test'), join(root, 'cmp-other')));
    expect(mo.value.differs).toEqual(['manifest']);
    expect(mo.value.warnings).toHaveLength(1);
    expect(mo.value.warnings[0]).toMatch(/^the two evaluations differ in manifest \(cmp-test: .*split\.json [0-9a-f]{12}, cmp-other: .*same-test\.json [0-9a-f]{12}\); /);
    expect(mo.value.warnings[0]).not.toContain('split (');
    expect(mo.value.text.split('\n')[0]).toBe('## cmp-test vs cmp-other (test split, 10 vs 10 images)');
  }, 60_000);
});
