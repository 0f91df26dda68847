/**
 * `plastisort backbone fetch|info` and the global `--offline`, run as the built CLI (dist/) against a
 * loopback server, with XDG_CACHE_HOME in a temporary folder and the working folder outside the
 * checkout (so no ../shared is found).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGENET_H5 } from '../../host/train/backbone-cache.ts';
import { mobilenetV2KerasLayers, writeKerasWeightsH5 } from './keras-h5.ts';
import { WeightsServer } from './weights-server.ts';

const cli = resolve(import.meta.dirname, '../../dist/plastisort.js');
const server = new WeightsServer();
let work: string;
let weights: Uint8Array;

function run(args: string[], cache: string): Promise<{ code: number; stdout: string; stderr: string }> {
  // vitest.config.ts sets PLASTISORT_OFFLINE=1 for every test; these runs choose for themselves.
  const { PLASTISORT_OFFLINE: _, ...inherited } = process.env;
  const env = { ...inherited, XDG_CACHE_HOME: cache, PLASTISORT_BACKBONE_BASE_URL: server.baseUrl, CI: '1' };
  return new Promise((r) => {
    execFile(process.execPath, [cli, ...args], { cwd: work, env }, (err, stdout, stderr) => {
      r({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'plastisort-backbone-cli-'));
  weights = writeKerasWeightsH5(mobilenetV2KerasLayers(undefined, 5));
  server.behaviour = { body: weights };
  await server.start();
});

afterAll(async () => {
  await server.stop();
  await rm(work, { recursive: true, force: true });
});

describe('plastisort backbone', () => {
  it('fetch downloads into $XDG_CACHE_HOME/plastisort, info shows URL, hash and checks', async () => {
    const cache = join(work, 'c1');
    const sha = createHash('sha256').update(weights).digest('hex');
    const first = await run(['backbone', 'fetch'], cache);
    expect(first.stderr).toMatch(/KiB/); // the progress output
    expect(first.code).toBe(0);
    const file = join(cache, 'plastisort', 'backbones', IMAGENET_H5);
    expect(first.stdout).toContain(`fetched: ${file}`);
    expect(first.stdout).toContain(`sha256 ${sha} (first use)`);
    expect(readFileSync(file).length).toBe(weights.length);
    expect(server.requests).toHaveLength(1);

    const info = await run(['backbone', 'info'], cache);
    expect(info.code).toBe(0);
    expect(info.stdout).toContain(`cached: ${file} (${weights.length} bytes)`);
    expect(info.stdout).toContain(`from ${server.baseUrl}${IMAGENET_H5}`);
    expect(info.stdout).toContain(`trusted on first use: ${IMAGENET_H5} sha256 ${sha}`);
    expect(info.stdout).toContain('known image: skipped: samples/hot_dog.jpg');
    expect(info.stdout).toContain('../shared ImageNet folder: absent');
  });

  it('fetch --to DIR stores the file and its record there, not in the cache', async () => {
    const cache = join(work, 'c2');
    const to = join(work, 'usb');
    const r = await run(['backbone', 'fetch', '--to', to], cache);
    expect(r.code).toBe(0);
    expect(existsSync(join(to, IMAGENET_H5))).toBe(true);
    expect(JSON.parse(readFileSync(join(to, `${IMAGENET_H5}.json`), 'utf8')).url).toBe(server.baseUrl + IMAGENET_H5);
    expect(existsSync(join(cache, 'plastisort', 'backbones', IMAGENET_H5))).toBe(false);
  });

  it('--offline refuses the download with one line and sends no request (PLASTISORT_OFFLINE=1: backbone-fetch.test.ts)', async () => {
    const before = server.requests.length;
    const viaFlag = await run(['backbone', 'fetch', '--offline'], join(work, 'c3'));
    expect(viaFlag.code).toBe(1);
    expect(viaFlag.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^plastisort: offline \(--offline or PLASTISORT_OFFLINE=1\): cannot download/)]);
    expect(server.requests.length).toBe(before);
  });
});
