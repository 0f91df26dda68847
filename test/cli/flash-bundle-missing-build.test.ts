/**
 * A missing firmware build is reported with a fix that fits the command: `bundle` has --build but no
 * --bundle, and `flash --bundle DIR` with a bundle that lost its flasher_args.json names the bundle,
 * not a build folder.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBundle } from '../../host/flash/bundle.ts';
import { writeTflite } from '../../host/tflite/writer.ts';
import { makeBuildDir } from '../../testing/flash/build-fixture.ts';
import { int8Classifier } from '../export/fixtures.ts';

const cli = resolve('dist/plastisort.js');

function plastisort(cwd: string, ...args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, env: { ...process.env, PLASTISORT_DEBUG: '' }, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

describe('no firmware build: the message fits the command', () => {
  it('bundle --out DIR --model m.tflite without a build names --build, never an option bundle lacks', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bundle-no-build-'));
    writeFileSync(join(dir, 'm.tflite'), writeTflite(int8Classifier()));
    const r = plastisort(dir, 'bundle', '--out', 'b', '--model', 'm.tflite');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'plastisort: firmware/build/flasher_args.json not found: build the firmware first (idf.py build in firmware/), or pass --build DIR with the ESP-IDF build folder\n',
    );
    // Every option the message names is one bundle has.
    const help = spawnSync(process.execPath, [cli, 'bundle', '--help'], { encoding: 'utf8' }).stdout;
    for (const opt of r.stderr.match(/--[a-z-]+/g) ?? []) expect(help).toContain(opt);
    expect(readdirSync(dir)).toEqual(['m.tflite']);
  });

  it('flash --bundle DIR whose flasher_args.json is gone names the bundle', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bundle-no-args-'));
    await makeBuildDir(join(dir, 'build'));
    await createBundle(join(dir, 'build', 'flasher_args.json'), join(dir, 'b'));
    rmSync(join(dir, 'b', 'flasher_args.json'));
    const r = plastisort(dir, 'flash', '--bundle', 'b', '--port', '/dev/null');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `plastisort: ${join('b', 'flasher_args.json')} is missing from the bundle; copy the whole bundle folder, or make it again with plastisort bundle\n`,
    );
    expect(existsSync(join(dir, 'b', 'manifest.json'))).toBe(true);
  });
});
