/**
 * A bundle's flasher_args.json decides at which flash offset each image is written, so its manifest
 * covers it like every other file: `plastisort bundle` records its SHA-256, and `flash --bundle` refuses
 * one changed after the bundle was made, before a port is opened. Bundles made before the entry existed
 * still flash, with one warning line that their offsets cannot be checked.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBundle, type BundleManifest } from '../../host/flash/bundle.ts';
import { prepareFlash } from '../../host/flash/cli-flow.ts';
import { log } from '../../host/util/log.ts';
import { sha256Hex } from '../../host/util/hash.ts';
import { stableJson } from '../../host/util/atomic.ts';
import { APP_OFFSET, makeBuildDir } from '../../testing/flash/build-fixture.ts';
import { RomEmulator } from '../../testing/flash/rom-emulator.ts';
import { runFlashCommandOn } from '../support/flash-command.ts';

const cli = resolve('dist/plastisort.js');

async function bundle() {
  const build = await mkdtemp(join(tmpdir(), 'bundle-args-build-'));
  await makeBuildDir(build);
  const out = join(await mkdtemp(join(tmpdir(), 'bundle-args-')), 'b');
  const manifest = await createBundle(join(build, 'flasher_args.json'), out);
  return { build, out, manifest };
}

/** flasher_args.json with the app moved to `offset` (a change the region-overlap check does not see). */
async function moveApp(out: string, offset: string): Promise<void> {
  const path = join(out, 'flasher_args.json');
  const args = JSON.parse(await readFile(path, 'utf8')) as { flash_files: Record<string, string>; app: { offset: string } };
  delete args.flash_files['0x10000'];
  args.flash_files[offset] = 'plastisort.bin';
  args.app.offset = offset;
  await writeFile(path, JSON.stringify(args));
}

afterEach(() => vi.restoreAllMocks());

describe("a bundle's flasher_args.json is covered by its manifest", () => {
  it('is listed in manifest.json with its SHA-256, the same bytes wherever the bundle is written', async () => {
    const { build, out, manifest } = await bundle();
    const bytes = await readFile(join(out, 'flasher_args.json'));
    expect(bytes.equals(await readFile(join(build, 'flasher_args.json')))).toBe(true);
    const onDisk = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as BundleManifest;
    const entry = onDisk.files.find((f) => f.path === 'flasher_args.json');
    expect(entry).toEqual({ path: 'flasher_args.json', role: 'flasher-args', bytes: bytes.length, sha256: sha256Hex(bytes) });
    expect(manifest.files).toContainEqual(entry);
    // Listed once in README.txt, as one of the manifest's files.
    const readme = await readFile(join(out, 'README.txt'), 'utf8');
    expect(readme.match(/^ {2}flasher_args\.json +\S/gm)).toHaveLength(1);

    const again = join(await mkdtemp(join(tmpdir(), 'bundle-args-')), 'other');
    await createBundle(join(build, 'flasher_args.json'), again);
    expect(await readFile(join(again, 'manifest.json'), 'utf8')).toBe(await readFile(join(out, 'manifest.json'), 'utf8'));
  });

  it('flash --bundle refuses a flasher_args.json changed after the bundle was made, before the board is touched', async () => {
    const { out } = await bundle();
    // Within the app partition, no overlap: only the manifest can tell.
    await moveApp(out, '0x20000');
    const emulator = new RomEmulator();
    await expect(runFlashCommandOn(emulator, { bundle: out, build: '/nonexistent', baud: 115200, modelOnly: false, verify: false })).rejects.toThrow(
      `${join(out, 'flasher_args.json')} was changed after the bundle was made (its SHA-256 is not the one ${join(out, 'manifest.json')} records), so the flash offsets it gives cannot be trusted; re-copy the bundle`,
    );
    expect(emulator.bootCount).toBe(0);
    expect(emulator.writes).toEqual([]);
  });

  it('the CLI says so in one line, exit 1, without opening the port', async () => {
    const { out } = await bundle();
    const path = join(out, 'flasher_args.json');
    // Even a change of formatting only.
    await writeFile(path, JSON.stringify(JSON.parse(await readFile(path, 'utf8')), null, 2));
    const r = spawnSync(process.execPath, [cli, 'flash', '--bundle', out, '--port', '/nonexistent/ttyACM0'], {
      env: { ...process.env, PLASTISORT_DEBUG: '' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^plastisort: .*flasher_args\.json was changed after the bundle was made .*; re-copy the bundle\n$/);
    expect(r.stderr).not.toContain('ttyACM0');
  });

  it('an older bundle without the entry still flashes, with one warning line that its offsets cannot be checked', async () => {
    const { out } = await bundle();
    const manifestPath = join(out, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as BundleManifest;
    manifest.files = manifest.files.filter((f) => f.path !== 'flasher_args.json');
    await writeFile(manifestPath, stableJson(manifest));
    const warnings: string[] = [];
    vi.spyOn(log, 'warn').mockImplementation((m: string) => void warnings.push(m));
    const emulator = new RomEmulator();
    const result = await runFlashCommandOn(emulator, { bundle: out, build: '/nonexistent', baud: 115200, modelOnly: false, verify: false });
    expect(result.regions.map((r) => r.role)).toEqual(['bootloader', 'partition-table', 'app']);
    expect(emulator.writes.map((w) => w.offset)).toContain(APP_OFFSET);
    expect(warnings).toEqual([
      `${manifestPath} records no SHA-256 for flasher_args.json (a bundle made before plastisort recorded it), so the flash offsets it gives cannot be checked; make the bundle again with plastisort bundle to record it`,
    ]);
    // Nothing to warn about in a bundle that records it.
    warnings.length = 0;
    await prepareFlash({ bundle: (await bundle()).out, build: '/nonexistent', baud: 115200, modelOnly: false });
    expect(warnings).toEqual([]);
  });
});
