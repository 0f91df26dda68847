/**
 * finetune --from RUN --manifest OTHER: test images that were the parent run's training images (same
 * pixels) are refused; validation overlap is a warning with its count; a parent manifest that is gone or
 * changed leaves a warning that leakage cannot be ruled out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readManifest, writeManifest } from '../../host/data/manifest-io.ts';
import type { ManifestItem, SplitName } from '../../host/data/manifest.ts';
import { loadBackbone } from '../../host/train/backbones.ts';
import { finetuneRun, trainBaseline } from '../../host/train/trainer.ts';
import { UserError } from '../../host/util/errors.ts';
import { removeTempDirs, synthManifest, tempDir } from './fixtures.ts';

afterAll(removeTempDirs);

/** s1's items with their splits renamed by `swap`, written to `path`. */
async function resplit(from: string, path: string, swap: Partial<Record<SplitName, SplitName>>): Promise<{ path: string; items: ManifestItem[] }> {
  const { manifest } = await readManifest(from);
  const items = manifest.items.map((it) => ({ ...it, split: swap[it.split] ?? it.split }));
  const counts = Object.fromEntries(manifest.classes.map((c) => [c, { train: 0, val: 0, test: 0 }]));
  for (const it of items) counts[it.class]![it.split]++;
  await writeManifest(path, { ...manifest, items, counts });
  return { path, items };
}

async function stderrOf<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: unknown; warnings: string[] }> {
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((c: string | Uint8Array) => (chunks.push(String(c)), true)) as typeof process.stderr.write;
  try {
    const value = await fn();
    return { value, warnings: chunks.join('').split('\n').filter((l) => l.startsWith('warning: ')) };
  } catch (error) {
    return { error, warnings: chunks.join('').split('\n').filter((l) => l.startsWith('warning: ')) };
  } finally {
    process.stderr.write = write;
  }
}

describe('finetune on another manifest than the parent run', () => {
  let fx: Awaited<ReturnType<typeof synthManifest>>;
  let work: string;
  const base = () => join(work, 'base');
  const quick = { epochs: 1, views: 1, batchSize: 8 };

  beforeAll(async () => {
    fx = await synthManifest(['cup', 'straw'], 6, { size: 96 });
    work = tempDir('leak');
    const backbone = await loadBackbone('nsfwjs');
    await trainBaseline({ manifest: fx.manifest, out: base(), loadedBackbone: backbone, inputSize: 96, epochs: 1, views: 1, cacheRoot: join(work, 'cache') });
  }, 120_000);

  it('refuses a manifest whose test images were the parent\'s training images, naming the counts and the fix', async () => {
    // train and test swapped: every test image of s2 was a training image of the parent
    const s2 = await resplit(fx.manifest, join(fx.dir, 's2.json'), { train: 'test', test: 'train' });
    const nTest = s2.items.filter((it) => it.split === 'test').length;
    const r = await stderrOf(() => finetuneRun({ from: base(), out: join(work, 'ft-leak'), manifest: s2.path, cacheRoot: join(work, 'cache'), ...quick }));
    expect(r.error).toBeInstanceOf(UserError);
    const msg = (r.error as Error).message;
    expect(msg).not.toContain('\n');
    expect(msg).toContain(`s2.json: ${nTest} of its ${nTest} test images were training images of ${fx.manifest}`);
    expect(msg).toContain(`train a baseline on ${s2.path}`);
    expect(msg).toContain(`or fine-tune with --manifest ${fx.manifest}`);
    expect(existsSync(join(work, 'ft-leak'))).toBe(false);
  });

  it('warns with the count when only validation images overlap, and fine-tunes', async () => {
    // val and test swapped: s2's test images were the parent's validation images, none its training images
    const s2 = await resplit(fx.manifest, join(fx.dir, 's2-val.json'), { val: 'test', test: 'val' });
    const nTest = s2.items.filter((it) => it.split === 'test').length;
    const nVal = s2.items.filter((it) => it.split === 'val').length;
    const r = await stderrOf(() => finetuneRun({ from: base(), out: join(work, 'ft-val'), manifest: s2.path, cacheRoot: join(work, 'cache'), ...quick }));
    expect(r.error).toBeUndefined();
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain(`0 of its ${nVal} val images and ${nTest} of its ${nTest} test images were training or validation images`);
  }, 120_000);

  it('says leakage cannot be ruled out when the parent\'s manifest changed since', async () => {
    const s2 = await resplit(fx.manifest, join(fx.dir, 's2-later.json'), { train: 'test', test: 'train' });
    const { manifest } = await readManifest(fx.manifest);
    await writeManifest(fx.manifest, { ...manifest, seed: manifest.seed + 1 }); // re-split in place
    const r = await stderrOf(() => finetuneRun({ from: base(), out: join(work, 'ft-later'), manifest: s2.path, cacheRoot: join(work, 'cache'), ...quick }));
    expect(r.error).toBeUndefined();
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/is changed since training, so leakage of its training images into the test split cannot be ruled out/);
  }, 120_000);
});
