/** Bad input to train/finetune: one-line UserErrors naming the problem, and nothing half-written. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readManifest } from '../../host/data/manifest-io.ts';
import { loadBackbone, type LoadedBackbone } from '../../host/train/backbones.ts';
import { finetuneRun, trainBaseline } from '../../host/train/trainer.ts';
import { UserError } from '../../host/util/errors.ts';
import { removeTempDirs, synthManifest, tempDir } from './fixtures.ts';

afterAll(removeTempDirs);

async function userError(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UserError);
  const msg = (e as Error).message;
  expect(msg.includes('\n')).toBe(false);
  return msg;
}

describe('train/finetune refuse bad input', () => {
  let fx: Awaited<ReturnType<typeof synthManifest>>;
  let other: Awaited<ReturnType<typeof synthManifest>>;
  let backbone: LoadedBackbone;
  let work: string;

  beforeAll(async () => {
    fx = await synthManifest(['pet_bottle', 'straw'], 4, { size: 96 });
    other = await synthManifest(['cup', 'straw'], 4, { size: 96 });
    backbone = await loadBackbone('nsfwjs');
    work = tempDir('bad');
    await trainBaseline({ manifest: fx.manifest, out: join(work, 'base'), loadedBackbone: backbone, inputSize: 96, epochs: 1, views: 1, cacheRoot: join(work, 'cache') });
  });

  it('input size out of range', async () => {
    for (const size of [95, 225, 100.5]) {
      const msg = await userError(trainBaseline({ manifest: fx.manifest, out: join(work, 'x'), loadedBackbone: backbone, inputSize: size }));
      expect(msg).toContain(`--input-size ${size}`);
      expect(msg).toContain('96 to 224');
    }
    expect(existsSync(join(work, 'x'))).toBe(false);
  });

  it('a manifest whose files changed since the split', async () => {
    const { manifest } = await readManifest(other.manifest);
    const victim = join(manifest.root, manifest.items[0].path);
    writeFileSync(victim, Buffer.from('not the image that was split'));
    const msg = await userError(trainBaseline({ manifest: other.manifest, out: join(work, 'y'), loadedBackbone: backbone, inputSize: 96 }));
    expect(msg).toMatch(/changed|differ|hash|sha/i);
    expect(existsSync(join(work, 'y'))).toBe(false);
  });

  it('fine-tuning a run with a manifest of another class list', async () => {
    const msg = await userError(finetuneRun({ from: join(work, 'base'), out: join(work, 'z'), manifest: fx.manifest.replace('split.json', 'nope.json') }));
    expect(msg).toContain('nope.json');
    const other2 = await synthManifest(['cup', 'milk_jug'], 3, { size: 96 });
    const msg2 = await userError(finetuneRun({ from: join(work, 'base'), out: join(work, 'z'), manifest: other2.manifest }));
    expect(msg2).toContain('pet_bottle, straw');
    expect(msg2).toContain('cup, milk_jug');
    expect(existsSync(join(work, 'z'))).toBe(false);
  });

  it('a folder that is not a run, an unknown unfreeze layer, an unknown backbone', async () => {
    expect(await userError(finetuneRun({ from: work, out: join(work, 'z') }))).toContain('not a run folder');
    expect(await userError(finetuneRun({ from: join(work, 'base'), out: join(work, 'base') }))).toContain('another folder');
    const msg = await userError(finetuneRun({ from: join(work, 'base'), out: join(work, 'z'), unfreezeFrom: 'block_13_project' }));
    expect(msg).toContain('block_13_project');
    expect(msg).toContain('block_13_expand');
    expect(await userError(trainBaseline({ manifest: fx.manifest, out: join(work, 'w'), backbone: join(work, 'missing.tflite'), inputSize: 96 }))).toContain('missing.tflite');
  });

  it('a cache that cannot fit, with the size it needs', async () => {
    const msg = await userError(
      trainBaseline({ manifest: fx.manifest, out: join(work, 'v'), loadedBackbone: backbone, inputSize: 96, views: 5, memoryLimitBytes: 1000, cacheRoot: join(work, 'cache') }),
    );
    expect(msg).toMatch(/needs \d+ MB/);
    expect(existsSync(join(work, 'v'))).toBe(false);
    // No temporary run folders are left behind by the failures above.
    expect(readdirSync(work).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
