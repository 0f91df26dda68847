import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthDataset } from '../../host/data/synth.ts';
import { splitDataset } from '../../host/data/split.ts';
import { writeManifest } from '../../host/data/manifest-io.ts';

const created: string[] = [];

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `plastisort-${prefix}-`));
  created.push(dir);
  return dir;
}

/** Removes every folder made by tempDir in this test file (call from afterAll). */
export function removeTempDirs(): void {
  for (const d of created.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A small synthetic dataset of `classes` and its split manifest, in a fresh temp folder. */
export async function synthManifest(
  classes: string[],
  perClass: number,
  opts: { size?: number; seed?: number } = {},
): Promise<{ dir: string; data: string; manifest: string }> {
  const dir = tempDir('train');
  const data = join(dir, 'images');
  await generateSynthDataset({ out: data, perClass, size: opts.size ?? 96, seed: opts.seed ?? 3, classes, progress: false });
  const { manifest } = await splitDataset({ data, seed: 1, ratios: [50, 25, 25], progress: false });
  const path = join(dir, 'split.json');
  await writeManifest(path, manifest);
  return { dir, data, manifest: path };
}
