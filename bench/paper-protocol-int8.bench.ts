/**
 * int8 against float per seed for the fine-tuned runs bench/paper-protocol left under
 * .cache/bench/paper-protocol (the same step as its QUANT=1, run on its own so that it can follow a
 * protocol run seed by seed): `plastisort quantize --calib all --method auto --seed <seed>`, the int8
 * model run in LiteRT on the run's test images, against the run's float test accuracy.
 *   SEEDS=1,2,3,4,5 npm run bench -- paper-protocol-int8
 * Merges into bench/results/paper-protocol-plastic6-int8.json (one entry per seed; a rerun replaces it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { writeJsonAtomic } from '../host/util/atomic.ts';
import { initBackend } from '../host/train/backend.ts';
import { readRunConfig } from '../host/train/run-folder.ts';
import { int8TestMetrics } from './paper-protocol-pairs.ts';

const root = resolve(import.meta.dirname, '..');
const work = join(root, '.cache/bench/paper-protocol');
const outFile = join(root, 'bench/results/paper-protocol-plastic6-int8.json');
const seeds = (process.env.SEEDS ?? '1,2,3,4,5').split(',').map(Number);
const resize = process.env.RESIZE ?? 'center-crop';

await initBackend();
const previous = existsSync(outFile) ? (JSON.parse(readFileSync(outFile, 'utf8')).seeds as Array<Record<string, unknown>>) : [];
const bySeed = new Map(previous.map((s) => [s.seed as number, s]));
for (const seed of seeds) {
  const run = join(work, `finetuned-${resize}-seed${seed}`);
  if (!existsSync(join(run, 'metrics.json'))) {
    console.warn(`seed ${seed}: ${run} has no finished run; skipped`);
    continue;
  }
  const metrics = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8')) as { accuracy: number; macro: { f1: number } };
  const config = await readRunConfig(run);
  const t0 = Date.now();
  const int8 = await int8TestMetrics(run, `${run}.tflite`, seed, metrics.accuracy);
  bySeed.set(seed, {
    seed,
    run: { dir: run, runId: config.runId, createdAt: config.createdAt, preset: config.hyper.optimizer === 'adamw' ? 'full' : 'fast' },
    float: { accuracy: metrics.accuracy, macroF1: metrics.macro.f1 },
    int8,
    seconds: (Date.now() - t0) / 1000,
    loadAverage1m: loadavg()[0],
  });
  const all = [...bySeed.values()].sort((a, b) => (a.seed as number) - (b.seed as number));
  await writeJsonAtomic(outFile, {
    benchmark: 'paper-protocol-plastic6-int8',
    command: `SEEDS=${seeds.join(',')} npm run bench -- paper-protocol-int8`,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '', shared: 'CPU shared with other jobs' },
    seeds: all,
    worstDropPp: Math.max(...all.map((s) => (s.int8 as { accuracyDropPp: number }).accuracyDropPp)),
  });
  console.log(`seed ${seed}: float ${(metrics.accuracy * 100).toFixed(1)}%, int8 ${((int8.accuracy as number) * 100).toFixed(1)}% (${int8.method})`);
}
