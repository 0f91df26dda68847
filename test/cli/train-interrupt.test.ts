// Ctrl-C during train says what a rerun does: training has no epoch checkpoints, so it starts over
// (the activation cache is kept); "resume" would promise what does not happen.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../host/util/exit-codes.ts';
import { cli } from './tiny-project.ts';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'plastisort-train-int-'));
  // Ten photos per class: train needs a test split too.
  execFileSync(process.execPath, [cli, 'data', 'synth', '--out', 'photos', '--per-class', '10', '--size', '32', '--classes', 'cup,straw'], { cwd: dir, stdio: 'ignore' });
  execFileSync(process.execPath, [cli, 'data', 'split', '--data', 'photos', '--out', 'split.json'], { cwd: dir, stdio: 'ignore' });
}, 60_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('train on Ctrl-C', () => {
  it('exits 130 and says the epochs start over, the cache is kept', async () => {
    const args = ['train', '--manifest', 'split.json', '--out', 'run', '--backbone', 'nsfwjs', '--input-size', '96', '--views', '1', '--epochs', '10000', '--patience', '10000'];
    const child = spawn(process.execPath, [cli, ...args], { cwd: dir, env: { ...process.env, PLASTISORT_DEBUG: '' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    // Interrupt once the epochs run (after the activation cache is written).
    for (let t = 0; !/train epoch \d+:/.test(stderr) && t < 1200; t++) await new Promise((r) => setTimeout(r, 100));
    expect(stderr).toMatch(/train epoch \d+:/);
    child.kill('SIGINT');
    expect(await code).toBe(EXIT.sigint);
    expect(stderr).toMatch(/plastisort: stopped by SIGINT; run the same command again: the cached activations are kept, training starts over at epoch 1/);
    expect(stderr).not.toMatch(/to resume/);
  }, 180_000);
});
