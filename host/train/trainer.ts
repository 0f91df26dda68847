/**
 * `plastisort train` (frozen backbone, head only) and `plastisort finetune` (tail from
 * `--unfreeze-from` on, plus head), both over the activation cache (features.ts), both writing a run
 * folder atomically (docs/artifacts.md).
 */
import { resolve } from 'node:path';
import type { SplitManifest, SplitName } from '../data/manifest.ts';
import { overlapWith, readRecordedManifest } from '../data/manifest-overlap.ts';
import { RESIZE_POLICIES, type ResizePolicy } from '../data/images.ts';
import type { EvalMetrics } from '../shared/metrics.ts';
import { UserError } from '../util/errors.ts';
import { log } from '../util/log.ts';
import { guardCacheDir, guardRunOut, parentManifestPath } from './run-output.ts';
import { describeBackbone, loadBackbone, type LoadedBackbone } from './backbones.ts';
import { initBackend } from './backend.ts';
import { CACHE_VERSION, frozenWeightsHash, getFeatures, projectFeatures } from './features.ts';
import { usesAdamW } from './fit.ts';
import { applyWeights, boundaryBefore, buildMobileNetV2, checkInputSize, POOL_LAYER, tailFrom, truncateAt } from './mobilenetv2.ts';
import { loadRun, readRunConfig, recordedManifest, RUN_SCHEMA, runIdOf, type HyperParameters, type RunConfig, type RunHistory } from './run-folder.ts';
import {
  augmentOf,
  backendInfo,
  checkRate,
  checkThreads,
  cpuSeconds,
  featureRows,
  featureWorkers,
  finishRun,
  fitTimed,
  noteReplacedOut,
  openManifest,
  seedHead,
  testMetrics,
  trainThreads,
} from './run-steps.ts';
import { checkWholeNumber } from '../util/whole-number.ts';

export interface CommonTrainOptions {
  out: string;
  batchSize?: number;
  epochs?: number;
  patience?: number;
  lr?: number;
  views?: number;
  seed?: number;
  labelSmoothing?: number;
  threads?: number;
  cacheRoot?: string;
  /** Skip re-hashing every image file (tests that just wrote the files). */
  skipVerify?: boolean;
  /**
   * Baseline only: cache this layer's activations (default block_12_add, fine-tuning's default
   * boundary) and derive the pooled features from them, so a following finetune with the same views
   * and seed reuses the cache instead of running the backbone again. 'none' caches pooled features only.
   */
  shareBoundary?: string;
  /** Test hook: a backbone already in memory instead of `backbone`. */
  loadedBackbone?: LoadedBackbone;
  memoryLimitBytes?: number;
}

export interface TrainOptions extends CommonTrainOptions {
  manifest: string;
  backbone?: string;
  inputSize?: number;
  resize?: ResizePolicy;
  dropout?: number;
}

/** The fine-tuning levers of fit.ts (FitOptions), as recorded in `config.json` `hyper`. */
export interface RecipeOptions {
  weightDecay?: number;
  layerDecay?: number;
  schedule?: 'constant' | 'cosine';
  warmupEpochs?: number;
  mixup?: number;
  cutmix?: number;
  averageLast?: number;
}

export interface FinetuneOptions extends CommonTrainOptions, RecipeOptions {
  /** 'fast': the earlier recipe (plain Adam 1e-4, ≤5 epochs); the default is the measured better one. */
  preset?: FinetunePreset;
  from: string;
  /** Defaults to the parent run's manifest. */
  manifest?: string;
  unfreezeFrom?: string;
}

export interface TrainResult {
  outDir: string;
  config: RunConfig;
  history: RunHistory;
  metrics: EvalMetrics;
  features: { fromCache: boolean; seconds: number; dir: string; rows: number };
}

/**
 * Fine-tuning recipes. `fast` is the earlier one (plain Adam 1e-4, ≤5 epochs, patience 2); `full`, the
 * default, is the one measured better against the same-split linear probe (docs/training.md).
 */
export const FINETUNE_PRESETS = {
  fast: {
    batchSize: 16, epochs: 5, patience: 2, lr: 1e-4, views: 3, unfreezeFrom: 'block_13_expand', labelSmoothing: 0.1,
    weightDecay: 0, layerDecay: 1, schedule: 'constant', warmupEpochs: 0, mixup: 0, cutmix: 0, averageLast: 0,
  },
  // Head at 1e-3 and each block below it at half the rate of the one above (block 13 at 3e-5), AdamW,
  // one warm-up epoch then cosine decay to 0, CutMix of the cached activation maps; no early stop inside
  // the schedule (the epoch with the lowest validation loss is restored). Eight cached views over eight
  // epochs beat three views over five, and CutMix (α 1) beat mixup (α 0.4), on validation accuracy on
  // both seeds tried (bench/results/finetune-recipes.json).
  full: {
    batchSize: 16, epochs: 8, patience: 8, lr: 1e-3, views: 8, unfreezeFrom: 'block_13_expand', labelSmoothing: 0.1,
    weightDecay: 0.05, layerDecay: 0.5, schedule: 'cosine', warmupEpochs: 1, mixup: 0, cutmix: 1, averageLast: 0,
  },
} as const satisfies Record<string, Required<RecipeOptions> & Record<string, unknown>>;
export type FinetunePreset = keyof typeof FINETUNE_PRESETS;
export const FINETUNE_PRESET_NAMES = Object.keys(FINETUNE_PRESETS) as FinetunePreset[];

export const DEFAULTS = {
  baseline: { batchSize: 32, epochs: 20, patience: 3, lr: 1e-3, dropout: 0.2, views: 3, labelSmoothing: 0 },
  finetune: { ...FINETUNE_PRESETS.full, boundary: 'block_12_add' },
} as const;

/** Frozen-backbone baseline: caches pooled features, trains dropout + dense on them. */
export async function trainBaseline(o: TrainOptions): Promise<TrainResult> {
  const d = DEFAULTS.baseline;
  const inputSize = o.inputSize ?? 224;
  checkInputSize(inputSize);
  const resize = o.resize ?? 'center-crop';
  if (!RESIZE_POLICIES.includes(resize)) throw new UserError(`--resize ${resize} is unknown; use ${RESIZE_POLICIES.join(' or ')}`);
  const hyperIn = {
    batchSize: o.batchSize ?? d.batchSize,
    epochs: o.epochs ?? d.epochs,
    patience: o.patience ?? d.patience,
    lr: o.lr ?? d.lr,
    dropout: o.dropout ?? d.dropout,
    views: o.views ?? d.views,
    seed: o.seed ?? 1,
    labelSmoothing: o.labelSmoothing ?? d.labelSmoothing,
  };
  checkWholeNumber('--batch-size', hyperIn.batchSize, 1, 4096);
  checkWholeNumber('--epochs', hyperIn.epochs, 1, 10000);
  checkWholeNumber('--patience', hyperIn.patience, 1, 10000);
  checkWholeNumber('--views', hyperIn.views, 1, 64);
  checkWholeNumber('--seed', hyperIn.seed, 0, 2 ** 31 - 1);
  checkRate('--dropout', hyperIn.dropout, 0, 1);
  checkRate('--label-smoothing', hyperIn.labelSmoothing, 0, 1);
  if (!(hyperIn.lr > 0 && hyperIn.lr < 1)) throw new UserError(`--lr ${hyperIn.lr} must be in (0, 1)`);
  checkThreads(o.threads);
  guardRunOut(o.out, 'train', o);
  guardCacheDir(o.cacheRoot, o);
  noteReplacedOut(o.out);

  const timings: Record<string, number> = {};
  const t0 = Date.now();
  const man = await openManifest(o.manifest, o.skipVerify);
  const backend = await initBackend({ threads: o.threads });
  const backbone = o.loadedBackbone ?? (await loadBackbone(o.backbone));
  log.info(`backend ${backend.name} (${backend.threads} thread${backend.threads === 1 ? '' : 's'}); backbone ${describeBackbone(backbone)}`);
  const model = buildMobileNetV2({ inputSize, numClasses: man.manifest.classes.length, dropout: hyperIn.dropout });
  applyWeights(model, backbone.weights, backbone.source);
  seedHead(model, hyperIn.seed);
  timings.load = (Date.now() - t0) / 1000;

  const boundary = POOL_LAYER;
  const shareAt = o.shareBoundary === 'none' ? undefined : (o.shareBoundary ?? DEFAULTS.finetune.boundary);
  if (shareAt && !model.layers.some((l) => l.name === shareAt)) throw new UserError(`layer ${shareAt} is not in MobileNetV2`);
  const cacheAt = shareAt ?? boundary;
  const extractor = truncateAt(model, cacheAt);
  const hyper: HyperParameters = {
    batchSize: hyperIn.batchSize,
    epochs: hyperIn.epochs,
    patience: hyperIn.patience,
    learningRate: hyperIn.lr,
    optimizer: 'adam',
    loss: 'sparse_categorical_crossentropy',
    labelSmoothing: hyperIn.labelSmoothing,
    dropout: hyperIn.dropout,
    views: hyperIn.views,
    seed: hyperIn.seed,
    augment: augmentOf(),
    unfreezeFrom: 'predictions',
    boundary,
  };
  const cpuF = cpuSeconds();
  const cached = await getFeatures(
    extractor,
    man.manifest,
    {
      version: CACHE_VERSION,
      manifestSha256: man.sha256,
      inputSize,
      resize,
      floatScaling: backbone.floatScaling,
      augmentSeed: hyper.seed,
      views: hyper.views,
      augment: hyper.augment,
      frozenSha256: frozenWeightsHash(model, cacheAt),
      boundary: cacheAt,
    },
    { cacheRoot: o.cacheRoot, memoryLimitBytes: o.memoryLimitBytes, label: `features (${cacheAt})`, workers: featureWorkers(backend, o.threads) },
  );
  const features = shareAt ? projectFeatures(tailFrom(model, shareAt, boundary), cached, 'features') : cached;
  timings.features = features.seconds;
  timings.featuresCpu = cpuSeconds() - cpuF;

  const head = tailFrom(model, boundary);
  const history = await fitTimed(head, features, hyper, man.manifest.classes.length, 'baseline', timings);

  const runId = runIdOf(o.out);
  const metrics = testMetrics(head, features, man.manifest.classes, man.path, man.sha256, runId, o.out);
  const config: RunConfig = {
    schema: RUN_SCHEMA,
    runId,
    stage: 'baseline',
    createdAt: new Date().toISOString(),
    classes: man.manifest.classes.slice(),
    manifest: { path: man.path, sha256: man.sha256 },
    backbone: {
      kind: backbone.kind,
      source: backbone.source,
      sha256: backbone.sha256,
      ...(backbone.fallback ? { fallback: true as const } : {}),
      ...(backbone.origin ? { origin: backbone.origin } : {}),
    },
    inputSize,
    resize,
    floatScaling: backbone.floatScaling,
    hyper,
    backend: backendInfo(backend, o.threads, 1),
    bestEpoch: history.bestEpoch,
    timings,
  };
  timings.total = (Date.now() - t0) / 1000;
  await finishRun(o.out, model, config, history, metrics);
  log.info(`train: best epoch ${history.bestEpoch}, test accuracy ${(metrics.accuracy * 100).toFixed(1)}% → ${o.out}`);
  model.dispose();
  return { outDir: resolve(o.out), config, history, metrics, features: { fromCache: features.fromCache, seconds: features.seconds, dir: features.dir, rows: featureRows(features) } };
}

/**
 * Fine-tuning on another manifest than the parent run was trained on: a test image that was one of the
 * parent's training images (same pixels) would be scored by a model that learned it, so that is refused;
 * validation images the parent trained or validated on are a warning (they steer the best epoch). When the
 * parent's manifest is gone or changed, the overlap cannot be known, which is said.
 */
async function checkParentSplit(from: string, parent: RunConfig, man: { path: string; manifest: SplitManifest }): Promise<void> {
  const own = await readRecordedManifest(parent.manifest, from);
  if (!('manifest' in own)) {
    const which = parent.manifest?.path
      ? `the manifest ${from} was trained on (${own.path}) is ${own.problem === 'missing' ? 'missing' : 'changed since training'}`
      : `${from}/config.json records no manifest`;
    log.warn(
      `${man.path} may differ from the split ${from} was trained on: ${which}, ` +
        `so leakage of its training images into the test split cannot be ruled out; train a baseline on ${man.path} and fine-tune that to be sure`,
    );
    return;
  }
  const of = (split: SplitName) => man.manifest.items.filter((it) => it.split === split);
  const test = overlapWith(own.manifest, of('test'));
  const val = overlapWith(own.manifest, of('val'));
  const valSeen = val.trainImages + val.valImages;
  if (test.trainImages > 0) {
    throw new UserError(
      `${man.path}: ${test.trainImages} of its ${test.n} test images were training images of ${own.path}, the manifest ${from} was trained on ` +
        `(same pixels; and ${valSeen} of its ${val.n} val images were its training or validation images), so the fine-tuned run would be tested on images it learned; ` +
        `train a baseline on ${man.path} (plastisort train --manifest ${man.path}) and fine-tune that, or fine-tune with --manifest ${own.path}`,
    );
  }
  const seen = valSeen + test.valImages;
  if (seen > 0) {
    log.warn(
      `${man.path} differs from the manifest ${from} was trained on (${own.path}): ${valSeen} of its ${val.n} val images and ${test.valImages} of its ${test.n} test images ` +
        `were training or validation images of that one (no test image was a training image); its validation and test figures are optimistic and not comparable with ${from}'s`,
    );
  } else {
    log.warn(
      `${man.path} differs from the manifest ${from} was trained on (${own.path}); none of its val or test images was a training or validation image of that one, ` +
        `but its test figures are not comparable with ${from}'s`,
    );
  }
}

/** Fine-tunes a run's tail from `unfreezeFrom` on (BN is folded: frozen statistics, see mobilenetv2.ts). */
export async function finetuneRun(o: FinetuneOptions): Promise<TrainResult> {
  const presetName = o.preset ?? 'full';
  if (!FINETUNE_PRESET_NAMES.includes(presetName)) {
    throw new UserError(`--preset ${presetName} is unknown; use ${FINETUNE_PRESET_NAMES.join(' or ')}`);
  }
  const d = FINETUNE_PRESETS[presetName];
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  if (resolve(o.out) === resolve(o.from)) {
    throw new UserError(`--out ${o.out} is the run being fine-tuned; write the fine-tuned run to another folder, e.g. ${o.from}-finetuned`);
  }
  checkThreads(o.threads);
  // The flags alone, before the parent run is loaded (the same checks run again on the merged settings).
  if (o.batchSize !== undefined) checkWholeNumber('--batch-size', o.batchSize, 1, 4096);
  if (o.epochs !== undefined) checkWholeNumber('--epochs', o.epochs, 1, 10000);
  if (o.patience !== undefined) checkWholeNumber('--patience', o.patience, 1, 10000);
  if (o.views !== undefined) checkWholeNumber('--views', o.views, 1, 64);
  if (o.seed !== undefined) checkWholeNumber('--seed', o.seed, 0, 2 ** 31 - 1);
  const parentConfig = await readRunConfig(o.from); // "not a run folder" before any complaint about --out
  const inputs = { ...o, manifest: o.manifest ?? parentManifestPath(o.from) };
  guardRunOut(o.out, 'finetune', inputs);
  guardCacheDir(o.cacheRoot, inputs);
  // The manifest, its class list and its overlap with the parent's split, before the model is loaded.
  const man = await openManifest(o.manifest ?? recordedManifest(parentConfig, o.from).path, o.skipVerify);
  const same = parentConfig.classes.length === man.manifest.classes.length && parentConfig.classes.every((c, i) => c === man.manifest.classes[i]);
  if (!same) {
    throw new UserError(
      `${o.from} was trained on classes [${parentConfig.classes.join(', ')}] but ${man.path} has [${man.manifest.classes.join(', ')}]; ` +
        'fine-tune with the manifest the run was trained on, or train a new baseline',
    );
  }
  if (man.sha256 !== parentConfig.manifest?.sha256) await checkParentSplit(o.from, parentConfig, man);
  const backend = await initBackend({ threads: o.threads });
  const { config: parent, model } = await loadRun(o.from);
  const unfreezeFrom = o.unfreezeFrom ?? d.unfreezeFrom;
  const boundary = boundaryBefore(model, unfreezeFrom);
  const recipe = {
    weightDecay: o.weightDecay ?? d.weightDecay,
    layerDecay: o.layerDecay ?? d.layerDecay,
    schedule: o.schedule ?? d.schedule,
    warmupEpochs: o.warmupEpochs ?? d.warmupEpochs,
    mixup: o.mixup ?? d.mixup,
    cutmix: o.cutmix ?? d.cutmix,
    averageLast: o.averageLast ?? d.averageLast,
  };
  checkRate('--weight-decay', recipe.weightDecay, 0, 1);
  if (!(recipe.layerDecay > 0 && recipe.layerDecay <= 1)) throw new UserError(`--layer-decay ${recipe.layerDecay} must be in (0, 1]`);
  if (recipe.schedule !== 'constant' && recipe.schedule !== 'cosine') throw new UserError(`--schedule ${recipe.schedule} is unknown; use constant or cosine`);
  checkRate('--warmup-epochs', recipe.warmupEpochs, 0, 10000);
  checkRate('--mixup', recipe.mixup, 0, 100);
  checkRate('--cutmix', recipe.cutmix, 0, 100);
  checkWholeNumber('--average-last', recipe.averageLast, 0, 10000);
  const hyper: HyperParameters = {
    batchSize: o.batchSize ?? d.batchSize,
    epochs: o.epochs ?? d.epochs,
    patience: o.patience ?? d.patience,
    learningRate: o.lr ?? d.lr,
    optimizer: usesAdamW(recipe) ? 'adamw' : 'adam',
    ...recipe,
    loss: 'sparse_categorical_crossentropy',
    labelSmoothing: o.labelSmoothing ?? d.labelSmoothing,
    dropout: parent.hyper.dropout,
    views: o.views ?? d.views,
    seed: o.seed ?? parent.hyper.seed,
    augment: augmentOf(),
    unfreezeFrom,
    boundary,
  };
  checkWholeNumber('--batch-size', hyper.batchSize, 1, 4096);
  checkWholeNumber('--epochs', hyper.epochs, 1, 10000);
  checkWholeNumber('--patience', hyper.patience, 1, 10000);
  if ((hyper.averageLast ?? 0) > hyper.epochs) {
    throw new UserError(`--average-last ${hyper.averageLast} exceeds --epochs ${hyper.epochs}; average at most the epochs the run has`);
  }
  checkWholeNumber('--views', hyper.views, 1, 64);
  checkRate('--label-smoothing', hyper.labelSmoothing, 0, 1);
  if (!(hyper.learningRate > 0 && hyper.learningRate < 1)) throw new UserError(`--lr ${hyper.learningRate} must be in (0, 1)`);
  noteReplacedOut(o.out);
  log.info(`backend ${backend.name}; fine-tuning ${o.from} from ${unfreezeFrom} on (cached activations of ${boundary})`);
  timings.load = (Date.now() - t0) / 1000;

  const extractor = truncateAt(model, boundary);
  const cpuF = cpuSeconds();
  const features = await getFeatures(
    extractor,
    man.manifest,
    {
      version: CACHE_VERSION,
      manifestSha256: man.sha256,
      inputSize: parent.inputSize,
      resize: parent.resize,
      floatScaling: parent.floatScaling,
      augmentSeed: hyper.seed,
      views: hyper.views,
      augment: hyper.augment,
      frozenSha256: frozenWeightsHash(model, boundary),
      boundary,
    },
    { cacheRoot: o.cacheRoot, memoryLimitBytes: o.memoryLimitBytes, label: `features (${boundary})`, workers: featureWorkers(backend, o.threads) },
  );
  timings.features = features.seconds;
  timings.featuresCpu = cpuSeconds() - cpuF;

  const tail = tailFrom(model, boundary);
  const history = await fitTimed(tail, features, hyper, parent.classes.length, 'finetune', timings, trainThreads(backend, o.threads));

  const runId = runIdOf(o.out);
  const metrics = testMetrics(tail, features, parent.classes, man.path, man.sha256, runId, o.out);
  const config: RunConfig = {
    ...parent,
    runId,
    stage: 'finetune',
    createdAt: new Date().toISOString(),
    manifest: { path: man.path, sha256: man.sha256 },
    hyper,
    parent: { path: resolve(o.from), runId: parent.runId },
    backend: backendInfo(backend, o.threads, trainThreads(backend, o.threads)),
    bestEpoch: history.bestEpoch,
    timings,
  };
  timings.total = (Date.now() - t0) / 1000;
  await finishRun(o.out, model, config, history, metrics);
  log.info(`finetune: best epoch ${history.bestEpoch}, test accuracy ${(metrics.accuracy * 100).toFixed(1)}% → ${o.out}`);
  model.dispose();
  return { outDir: resolve(o.out), config, history, metrics, features: { fromCache: features.fromCache, seconds: features.seconds, dir: features.dir, rows: featureRows(features) } };
}
