/**
 * Which fine-tuning recipe: each named recipe below fine-tunes the paper-protocol baselines of the given
 * split seeds (bench/paper-protocol must have run for them: it leaves the baselines and their
 * block_12_add activation caches under .cache/bench/paper-protocol). Recipes are compared on the
 * VALIDATION split (accuracy and loss at the restored epoch); test figures are recorded beside them but
 * are never the basis of a choice.
 *
 *   SEEDS=1,2 RECIPES=fast,cosine-wd npm run bench -- finetune-recipes
 * Appends to bench/results/finetune-recipes.json (one entry per recipe and seed; a rerun replaces it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { writeJsonAtomic } from '../host/util/atomic.ts';
import { finetuneRun, type FinetuneOptions } from '../host/train/trainer.ts';

const root = resolve(import.meta.dirname, '..');
const work = join(root, '.cache/bench/paper-protocol');
const outFile = process.env.OUT_FILE ? resolve(process.env.OUT_FILE) : join(root, 'bench/results/finetune-recipes.json');
const seeds = (process.env.SEEDS ?? '1,2').split(',').map(Number);
const resize = process.env.RESIZE ?? 'center-crop';

type Recipe = Omit<FinetuneOptions, 'from' | 'out'>;
// The `full` preset before commit 6695e42 (3 views, 5 epochs, mixup), and before f173aad (8 views,
// 8 epochs, mixup): the bases the older recipes were measured on.
const FULL_V1: Recipe = { preset: 'full', views: 3, epochs: 5, patience: 5, mixup: 0.4, cutmix: 0 };
const FULL_V2: Recipe = { preset: 'full', mixup: 0.4, cutmix: 0 };
const RECIPES: Record<string, Recipe> = {
  fast: { preset: 'fast' },
  // AdamW, head at 1e-3 and each block below it at half the rate of the one above, warm-up + cosine.
  'ld05-wd-cos8': { preset: 'fast', lr: 1e-3, layerDecay: 0.5, weightDecay: 0.05, schedule: 'cosine', warmupEpochs: 1, epochs: 8, patience: 8 },
  'ld05-wd-cos8-mix': { preset: 'fast', lr: 1e-3, layerDecay: 0.5, weightDecay: 0.05, schedule: 'cosine', warmupEpochs: 1, epochs: 8, patience: 8, mixup: 0.4 },
  'ld07-wd-cos8-mix': { preset: 'fast', lr: 5e-4, layerDecay: 0.7, weightDecay: 0.05, schedule: 'cosine', warmupEpochs: 1, epochs: 8, patience: 8, mixup: 0.4 },
  'cos8-mix': { preset: 'fast', lr: 1e-4, schedule: 'cosine', warmupEpochs: 1, epochs: 8, patience: 8, mixup: 0.4 },
  // The same at the fast preset's 5 epochs (what fits the 15-minute-per-seed budget on a busy machine).
  'ld05-wd-cos5-mix': { preset: 'fast', lr: 1e-3, layerDecay: 0.5, weightDecay: 0.05, schedule: 'cosine', warmupEpochs: 1, epochs: 5, patience: 5, mixup: 0.4 },
  'ld05-wd-cos5': { preset: 'fast', lr: 1e-3, layerDecay: 0.5, weightDecay: 0.05, schedule: 'cosine', warmupEpochs: 1, epochs: 5, patience: 5 },
  'ld05-cos6-mix': { preset: 'fast', lr: 1e-3, layerDecay: 0.5, weightDecay: 0.05, schedule: 'cosine', warmupEpochs: 1, epochs: 6, patience: 6, mixup: 0.4 },
  // Today's `full` preset. Entries recorded under this name before commit 6695e42 ran what full-v1 is
  // now; each entry's `settings` and `finished` say which.
  full: { preset: 'full' },
  // The recipes below are spelt out against the preset as it was when they were measured, so they
  // reproduce bench/results/finetune-recipes.json whatever `full` is today.
  'full-v1': FULL_V1,
  // More cached views (near-fresh augmentation per epoch), and a deeper boundary with gentler layer decay.
  'full-e10': { ...FULL_V1, epochs: 10, patience: 10 },
  'full-v8-e8': { ...FULL_V1, views: 8, epochs: 8, patience: 8 },
  'b9-ld07-v6-e8': { ...FULL_V1, unfreezeFrom: 'block_9_expand', layerDecay: 0.7, views: 6, epochs: 8, patience: 8 },
  // Weight averaging over the cosine tail, and over a longer run's last half.
  'full-swa4': { ...FULL_V2, averageLast: 4 },
  'full-e12-swa6': { ...FULL_V2, epochs: 12, patience: 12, averageLast: 6 },
  // CutMix of the 14×14 block_12_add maps, alone and alternating with mixup.
  'full-cutmix': { ...FULL_V2, mixup: 0, cutmix: 1 },
  'full-mix-cutmix': { ...FULL_V2, cutmix: 1 },
};
const wanted = (process.env.RECIPES ?? 'fast').split(',');
for (const r of wanted) if (!RECIPES[r]) throw new Error(`unknown recipe ${r}; known: ${Object.keys(RECIPES).join(', ')}`);

interface Entry {
  recipe: string;
  seed: number;
  settings: Recipe;
  bestEpoch: number;
  epochsRun: number;
  /** Weight averaging's validation figures and whether it replaced the best epoch (then valAccuracy/valLoss are its). */
  averaged?: { fromEpoch: number; toEpoch: number; valLoss: number; valAccuracy: number; used: boolean };
  valAccuracy: number;
  valLoss: number;
  testAccuracy: number;
  testMacroF1: number;
  trainAccuracyLastEpoch: number;
  trainSeconds: number;
  trainImagesPerSecond: number;
  loadAverage1m: number;
  finished: string;
}

const previous: Entry[] = existsSync(outFile) ? (JSON.parse(readFileSync(outFile, 'utf8')).entries as Entry[]) : [];
const entries = previous.slice();

async function write(): Promise<void> {
  const byRecipe = new Map<string, Entry[]>();
  for (const e of entries) byRecipe.set(e.recipe, [...(byRecipe.get(e.recipe) ?? []), e]);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  await writeJsonAtomic(outFile, {
    benchmark: 'finetune-recipes',
    note: 'chosen on validation; test recorded but not used for the choice. Wall times on a shared 2-core machine.',
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '' },
    summary: [...byRecipe].map(([recipe, es]) => ({
      recipe,
      seeds: es.map((e) => e.seed),
      valAccuracy: mean(es.map((e) => e.valAccuracy)),
      valLoss: mean(es.map((e) => e.valLoss)),
      testAccuracy: mean(es.map((e) => e.testAccuracy)),
      testMacroF1: mean(es.map((e) => e.testMacroF1)),
      trainSeconds: mean(es.map((e) => e.trainSeconds)),
    })),
    entries,
  });
}

for (const seed of seeds) {
  const from = join(work, `baseline-${resize}-seed${seed}`);
  if (!existsSync(join(from, 'config.json'))) {
    // As the int8 benches do: nothing to fine-tune, so nothing is written for this seed.
    console.warn(`finetune-recipes: seed ${seed} skipped — no baseline at ${from}; run SEEDS=${seed} npm run bench -- paper-protocol first`);
    continue;
  }
  for (const name of wanted) {
    const settings = RECIPES[name]!;
    const r = await finetuneRun({ ...settings, from, out: join(root, '.cache/bench/finetune-recipes', `${name}-seed${seed}`) });
    const eps = r.history.epochs;
    const best = eps[r.history.bestEpoch - 1]!;
    const trainSeconds = eps.reduce((n, e) => n + e.seconds, 0);
    const entry: Entry = {
      recipe: name,
      seed,
      settings,
      bestEpoch: r.history.bestEpoch,
      epochsRun: eps.length,
      ...(r.history.averaged ? { averaged: r.history.averaged } : {}),
      valAccuracy: r.history.averaged?.used ? r.history.averaged.valAccuracy : best.valAccuracy,
      valLoss: r.history.averaged?.used ? r.history.averaged.valLoss : best.valLoss,
      testAccuracy: r.metrics.accuracy,
      testMacroF1: r.metrics.macro.f1,
      trainAccuracyLastEpoch: eps[eps.length - 1]!.accuracy,
      trainSeconds,
      trainImagesPerSecond: eps.reduce((n, e) => n + e.imagesPerSecond * e.seconds, 0) / trainSeconds,
      loadAverage1m: loadavg()[0]!,
      finished: new Date().toISOString(),
    };
    const at = entries.findIndex((e) => e.recipe === name && e.seed === seed);
    if (at >= 0) entries[at] = entry;
    else entries.push(entry);
    await write();
    console.log(`${name} seed ${seed}: val ${(entry.valAccuracy * 100).toFixed(1)}% (loss ${entry.valLoss.toFixed(3)}), test ${(entry.testAccuracy * 100).toFixed(1)}%, ${trainSeconds.toFixed(0)} s`);
  }
}
