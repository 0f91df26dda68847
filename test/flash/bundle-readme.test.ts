/**
 * A bundle carries its own instructions: README.txt says what each file is and gives the two commands a
 * technician runs (plastisort flash --bundle, and esptool.py with the bundle's flash_args). It is covered
 * by the manifest like every other file, and made only from the build and the model, so the same inputs
 * give the same bytes wherever the bundle is written.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBundle, verifyBundle } from '../../host/flash/bundle.ts';
import { sha256Hex } from '../../host/util/hash.ts';
import { makeBuildDir } from '../../testing/flash/build-fixture.ts';
import { tinyModel } from '../serial/fixtures.ts';

async function build() {
  const dir = await mkdtemp(join(tmpdir(), 'bundle-readme-build-'));
  await makeBuildDir(dir);
  await writeFile(join(dir, 'm.tflite'), tinyModel(4));
  return dir;
}

async function bundleOf(dir: string, withModel: boolean) {
  const out = join(await mkdtemp(join(tmpdir(), 'bundle-readme-')), 'bin-v1');
  const manifest = await createBundle(join(dir, 'flasher_args.json'), out, withModel ? join(dir, 'm.tflite') : undefined);
  return { out, manifest, readme: await readFile(join(out, 'README.txt'), 'utf8'), flashArgs: await readFile(join(out, 'flash_args'), 'utf8') };
}

describe('a bundle\'s README.txt', () => {
  it('names every file and the two commands, covered by the manifest', async () => {
    const dir = await build();
    const { out, manifest, readme, flashArgs } = await bundleOf(dir, true);
    const entry = manifest.files.find((f) => f.path === 'README.txt');
    expect(entry).toEqual({ path: 'README.txt', role: 'readme', bytes: Buffer.byteLength(readme), sha256: sha256Hex(readme) });
    const onDisk = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as { files: { path: string }[] };
    expect(onDisk.files.map((f) => f.path)).toContain('README.txt');
    // What each file is: every file of the bundle folder has its line.
    for (const f of [...manifest.files.map((x) => x.path), 'manifest.json', 'flasher_args.json']) {
      expect(readme).toMatch(new RegExp(`^  ${f.replace(/[.]/g, '\\.')} +\\S`, 'm'));
    }
    expect(readme).toMatch(/^  model-partition\.bin +model partition image \(64-byte header \+ model\.tflite\), at 0x110000$/m);
    // The two commands.
    expect(readme).toContain('\n  plastisort flash --bundle DIR [--port PORT]\n');
    expect(readme).toContain('\n  esptool.py --chip esp32s3 write_flash @flash_args\n');
    // And the esptool command spelled out from flash_args, line for line.
    const spelled = `  esptool.py --chip esp32s3 write_flash ${flashArgs.trim().split('\n').join(' ')}\n`;
    expect(spelled).toContain('0x110000 model-partition.bin');
    expect(readme).toContain(spelled);
    // A damaged README is a damaged bundle.
    await writeFile(join(out, 'README.txt'), readme.replace('DIR', 'XYZ'));
    await expect(verifyBundle(out)).rejects.toThrow(/README\.txt does not match the bundle manifest/);
  });

  it('is the same bytes wherever the bundle is written, with no path or date in it', async () => {
    const dir = await build();
    const a = await bundleOf(dir, true);
    const b = await bundleOf(dir, true);
    expect(a.out).not.toBe(b.out);
    expect(b.readme).toBe(a.readme);
    expect(await readFile(join(b.out, 'manifest.json'), 'utf8')).toBe(await readFile(join(a.out, 'manifest.json'), 'utf8'));
    expect(a.readme).not.toContain(tmpdir());
    expect(a.readme).not.toContain(dir);
    expect(a.readme).not.toMatch(/\b20\d\d-\d\d-\d\d\b|\d\d:\d\d/);
  });

  it('a bundle without a model: no model lines, no --no-model', async () => {
    const dir = await build();
    const { readme, flashArgs } = await bundleOf(dir, false);
    expect(readme).not.toContain('model-partition.bin');
    expect(readme).not.toContain('--no-model');
    expect(readme).toContain(`write_flash ${flashArgs.trim().split('\n').join(' ')}\n`);
  });
});
