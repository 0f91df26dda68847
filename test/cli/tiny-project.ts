/**
 * A tiny project for CLI tests that need real artifacts: synthetic photos (`data synth`), a split
 * manifest (`data split`) and a small float run folder over them, all through the built CLI or the
 * project's own writers, in seconds.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { tinyFloatRun } from '../serial/fixtures.ts';

export const cli = resolve('dist/plastisort.js');
export const CLASSES = ['cup', 'straw'];

/** Runs the built CLI in `cwd`; stderr and exit code for the one-line-error checks. */
export function plastisort(cwd: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, env: { ...process.env, PLASTISORT_DEBUG: '' }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Lines of stderr that are not progress bars. */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /^plastisort: /.test(l));
}

/** dir/photos (2 classes × 4 images, 32 px) and dir/split.json (train 3, val 1 per class). */
export function tinyPhotos(dir: string): void {
  execFileSync(process.execPath, [cli, 'data', 'synth', '--out', 'photos', '--per-class', '4', '--size', '32', '--classes', CLASSES.join(',')], { cwd: dir, stdio: 'ignore' });
  execFileSync(process.execPath, [cli, 'data', 'split', '--data', 'photos', '--out', 'split.json'], { cwd: dir, stdio: 'ignore' });
}

/** A minimal run folder over CLASSES (tinyFloatRun) whose config.json names `manifest` as a train run does. */
export async function tinyRun(dir: string, manifest: string, runId = 'tiny'): Promise<string> {
  const sha256 = createHash('sha256').update(readFileSync(manifest)).digest('hex');
  return tinyFloatRun(dir, CLASSES, {
    runId, manifest: { path: resolve(manifest), sha256 }, backbone: { kind: 'tfjs', source: 'test', sha256: 'x' },
    hyper: {}, backend: { name: 'cpu', threads: 1 }, bestEpoch: 1, timings: {},
  });
}
