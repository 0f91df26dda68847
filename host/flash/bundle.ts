import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { writeDirAtomic, stableJson } from '../util/atomic.ts';
import { loadFlashPlan } from './images.ts';
import { BUNDLE_OUTPUT } from './bundle-output.ts';

export interface BundleManifest {
  schema: 'plastisort.bundle/1';
  chip: string;
  flashSettings: { flash_mode: string; flash_size: string; flash_freq: string };
  files: { path: string; role: string; offset?: number; bytes: number; sha256: string }[];
}

/**
 * Packs what a technician needs into one folder: the app images with their flasher_args.json, the
 * model, and a manifest of SHA-256s that `plastisort flash --bundle` checks before writing.
 */
export async function createBundle(flasherArgsPath: string, outDir: string, modelPath?: string): Promise<BundleManifest> {
  const plan = await loadFlashPlan(flasherArgsPath);
  const srcDir = dirname(flasherArgsPath);
  const manifest: BundleManifest = {
    schema: 'plastisort.bundle/1',
    chip: plan.chip,
    flashSettings: plan.flashSettings,
    files: [],
  };
  await writeDirAtomic(outDir, async (tmp) => {
    await copyFile(flasherArgsPath, join(tmp, 'flasher_args.json'));
    for (const img of plan.images) {
      await mkdir(dirname(join(tmp, img.file)), { recursive: true });
      await copyFile(join(srcDir, img.file), join(tmp, img.file));
      manifest.files.push({ path: img.file, role: img.role, offset: img.offset, bytes: img.data.length, sha256: img.sha256 });
    }
    if (modelPath) {
      const model = await readFile(modelPath);
      await writeFile(join(tmp, 'model.tflite'), model);
      manifest.files.push({
        path: 'model.tflite',
        role: 'model',
        bytes: model.length,
        sha256: createHash('sha256').update(model).digest('hex'),
      });
    }
    await writeFile(join(tmp, 'manifest.json'), stableJson(manifest));
  }, BUNDLE_OUTPUT);
  return manifest;
}

/** Checks a bundle's files against its manifest; returns the path of its flasher_args.json. */
export async function verifyBundle(dir: string): Promise<string> {
  const { UserError } = await import('../util/errors.ts');
  const manifestPath = join(dir, 'manifest.json');
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as BundleManifest;
  } catch {
    throw new UserError(`${manifestPath} is missing or not JSON; make the bundle with plastisort bundle`);
  }
  for (const f of manifest.files) {
    let data: Buffer;
    try {
      data = await readFile(join(dir, f.path));
    } catch {
      throw new UserError(`${join(dir, f.path)} is listed in the bundle manifest but missing; copy the whole bundle folder`);
    }
    const sha = createHash('sha256').update(data).digest('hex');
    if (sha !== f.sha256) throw new UserError(`${join(dir, f.path)} does not match the bundle manifest (SHA-256 differs); the bundle is damaged`);
  }
  return join(dir, 'flasher_args.json');
}
