/**
 * A tiny project for CLI tests that need real artifacts: synthetic photos (`data synth`), a split
 * manifest (`data split`) and a small float run folder over them, all through the built CLI or the
 * project's own writers, in seconds.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const cli = resolve('dist/plastisort.js');
export const CLASSES = ['cup', 'straw'];
export const SIZE = 24;

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

/** A minimal run folder (plastisort.run/1): global average pooling and a dense softmax over CLASSES. */
export async function tinyRun(dir: string, manifest: string, runId = 'tiny'): Promise<string> {
  const tf = await import('@tensorflow/tfjs');
  const { saveModel } = await import('../../host/train/run-folder.ts');
  const { initBackend } = await import('../../host/train/backend.ts');
  await initBackend();
  const input = tf.input({ shape: [SIZE, SIZE, 3] });
  const pooled = tf.layers.globalAveragePooling2d({}).apply(input) as import('@tensorflow/tfjs').SymbolicTensor;
  const out = tf.layers.dense({ units: CLASSES.length, activation: 'softmax', kernelInitializer: tf.initializers.randomNormal({ seed: 3 }) }).apply(pooled) as import('@tensorflow/tfjs').SymbolicTensor;
  await saveModel(tf.model({ inputs: input, outputs: out }), join(dir, 'model'));
  const sha256 = createHash('sha256').update(readFileSync(manifest)).digest('hex');
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      schema: 'plastisort.run/1', runId, stage: 'baseline', createdAt: '2026-01-01T00:00:00Z', classes: CLASSES,
      manifest: { path: resolve(manifest), sha256 }, backbone: { kind: 'tfjs', source: 'test', sha256: 'x' },
      inputSize: SIZE, resize: 'squash', floatScaling: { scale: 1 / 127.5, offset: -1 }, hyper: {}, backend: { name: 'cpu', threads: 1 },
      bestEpoch: 1, timings: {},
    }),
  );
  return dir;
}
