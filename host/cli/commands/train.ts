import type { Command } from 'commander';
import { action, parseIntOption, parseNumberOption } from '../run.ts';
import { setRerunNote } from '../../util/children.ts';
import {
  trainBaseline,
  finetuneRun,
  DEFAULTS,
  FINETUNE_PRESETS,
  FINETUNE_PRESET_NAMES,
  type CommonTrainOptions,
  type FinetunePreset,
  type RecipeOptions,
} from '../../train/trainer.ts';
import type { ResizePolicy } from '../../data/images.ts';

/** The trainer's shared options as flags; commander names the cache folder `--cache-dir`. */
type CommonFlags = Omit<CommonTrainOptions, 'cacheRoot' | 'skipVerify' | 'loadedBackbone' | 'memoryLimitBytes'> & { cacheDir?: string };

/** "full X, fast Y" for a fine-tuning setting, for the help text (the flags default to the chosen preset). */
function presetValues(key: keyof (typeof FINETUNE_PRESETS)['full']): string {
  return FINETUNE_PRESET_NAMES.map((n) => `${n} ${FINETUNE_PRESETS[n][key]}`).join(', ');
}

export function register(program: Command): void {
  const b = DEFAULTS.baseline;
  program
    .command('train')
    .summary('baseline: frozen ImageNet MobileNetV2 + new head')
    .description(
      'Train the baseline: MobileNetV2 with a frozen backbone and a new head (global average pooling → dropout → ' +
        'dense softmax). Pooled features of K augmented views per training image are computed once and cached ' +
        'under .cache/features/, then only the head trains (Adam, early stopping on validation loss, best weights ' +
        'restored). Writes a run folder: model/ (tfjs), config.json, history.json, metrics.json (test split).',
    )
    .requiredOption('--manifest <file>', 'split manifest from plastisort data split')
    .requiredOption('--out <dir>', 'run folder to write, e.g. runs/baseline (replaced atomically)')
    .option(
      '--backbone <imagenet|path|nsfwjs>',
      'MobileNetV2 weights: imagenet (the default: the cached official Keras ImageNet weights, else ../shared, else ' +
        'downloaded once; nsfwjs only when all fail), a tfjs LayersModel folder, an ImageNet MobileNetV2 .tflite, a Keras .h5, ' +
        'or nsfwjs (offline fallback, poorer features)',
    )
    .option('--input-size <n>', 'square input side, 96..224', parseIntOption('--input-size'), 224)
    .option('--resize <policy>', 'center-crop (the central square; measured better on plastic6) or squash (stretch, as the paper)', 'center-crop')
    .option('--batch-size <n>', 'batch size', parseIntOption('--batch-size'), b.batchSize)
    .option('--epochs <n>', 'maximum epochs', parseIntOption('--epochs'), b.epochs)
    .option('--patience <n>', 'early stopping: epochs without a lower validation loss', parseIntOption('--patience'), b.patience)
    .option('--lr <x>', 'Adam learning rate', parseNumberOption('--lr'), b.lr)
    .option('--dropout <x>', 'dropout rate before the dense layer', parseNumberOption('--dropout'), b.dropout)
    .option('--views <k>', 'augmented views per training image in the feature cache', parseIntOption('--views'), b.views)
    .option('--label-smoothing <x>', 'label smoothing of the cross-entropy', parseNumberOption('--label-smoothing'), b.labelSmoothing)
    .option('--seed <n>', 'seed of augmentation, shuffling, dropout masks and head initialisation (same seed, settings and --threads: same run)', parseIntOption('--seed'), 1)
    .option('--threads <n>', 'threads: worker threads for feature extraction on wasm (default: one per CPU), or tfjs-node\'s pool', parseIntOption('--threads'))
    .option('--cache-dir <dir>', 'activation cache folder', '.cache/features')
    .addHelpText('after', '\nExample:\n  plastisort train --manifest runs/split.json --out runs/baseline --backbone ../shared/backbones/mobilenet_v2_1.0_224_imagenet/tfjs')
    .action(
      action(async (o: CommonFlags & { manifest: string; backbone?: string; inputSize: number; resize: string; dropout: number }) => {
        setRerunNote('run the same command again: the cached activations are kept, training starts over at epoch 1');
        await trainBaseline({
          manifest: o.manifest,
          out: o.out,
          backbone: o.backbone,
          inputSize: o.inputSize,
          resize: o.resize as ResizePolicy,
          batchSize: o.batchSize,
          epochs: o.epochs,
          patience: o.patience,
          lr: o.lr,
          dropout: o.dropout,
          views: o.views,
          labelSmoothing: o.labelSmoothing,
          seed: o.seed,
          threads: o.threads,
          cacheRoot: o.cacheDir,
        });
      }),
    );

  const f = DEFAULTS.finetune;
  program
    .command('finetune')
    .summary('fine-tune the tail of a trained run')
    .description(
      'Fine-tune a trained run: unfreeze the backbone from --unfreeze-from on (default block_13_expand, the paper\'s ' +
        '"last ~40 layers") and train it with the head. The activation at the freeze boundary is cached for K ' +
        'augmented views per training image, so an epoch costs only the tail. Batch norm is folded into the ' +
        'convolutions (frozen statistics). Writes a new run folder like train.',
    )
    .requiredOption('--from <run>', 'baseline run folder (from plastisort train)')
    .requiredOption('--out <dir>', 'run folder to write, e.g. runs/finetuned')
    .option('--manifest <file>', 'split manifest (default: the one the run was trained on)')
    .option('--preset <name>', `recipe whose values the flags below default to: ${FINETUNE_PRESET_NAMES.join(' or ')} (fast: the earlier plain-Adam recipe)`, 'full')
    .option('--unfreeze-from <layer>', 'first trainable layer, a block start such as block_13_expand', f.unfreezeFrom)
    .option('--batch-size <n>', `batch size (${presetValues('batchSize')})`, parseIntOption('--batch-size'))
    .option('--epochs <n>', `maximum epochs (${presetValues('epochs')})`, parseIntOption('--epochs'))
    .option('--patience <n>', `early stopping: epochs without a lower validation loss (${presetValues('patience')})`, parseIntOption('--patience'))
    .option('--lr <x>', `peak learning rate, of the head when --layer-decay < 1 (${presetValues('lr')})`, parseNumberOption('--lr'))
    .option('--weight-decay <x>', `decoupled weight decay of the kernels, AdamW (${presetValues('weightDecay')})`, parseNumberOption('--weight-decay'))
    .option('--layer-decay <x>', `learning-rate factor per block below the head, in (0, 1] (${presetValues('layerDecay')})`, parseNumberOption('--layer-decay'))
    .option('--schedule <kind>', `learning-rate schedule after warm-up: constant or cosine (${presetValues('schedule')})`)
    .option('--warmup-epochs <x>', `epochs of linear learning-rate warm-up (${presetValues('warmupEpochs')})`, parseNumberOption('--warmup-epochs'))
    .option('--mixup <alpha>', `mixup of the cached activations, λ ~ Beta(α, α); 0 = off (${presetValues('mixup')})`, parseNumberOption('--mixup'))
    .option('--cutmix <alpha>', `CutMix of the cached activation maps, λ ~ Beta(α, α); with --mixup, one of the two per batch; 0 = off (${presetValues('cutmix')})`, parseNumberOption('--cutmix'))
    .option('--average-last <n>', `average the weights of the last n epochs, kept if their validation loss is lower; 0 = off (${presetValues('averageLast')})`, parseIntOption('--average-last'))
    .option('--views <k>', `augmented views per training image in the activation cache (${presetValues('views')})`, parseIntOption('--views'))
    .option('--label-smoothing <x>', `label smoothing of the cross-entropy (${presetValues('labelSmoothing')})`, parseNumberOption('--label-smoothing'))
    .option('--seed <n>', 'seed of augmentation, shuffling and dropout masks (default: the parent run\'s)', parseIntOption('--seed'))
    .option('--threads <n>', 'threads on wasm: worker threads for feature extraction and for data-parallel fine-tuning steps (default: one per CPU; 1 = this thread only), or tfjs-node\'s pool', parseIntOption('--threads'))
    .option('--cache-dir <dir>', 'activation cache folder', '.cache/features')
    .addHelpText('after', '\nExample:\n  plastisort finetune --from runs/baseline --out runs/finetuned')
    .action(
      action(async (o: CommonFlags & RecipeOptions & { from: string; manifest?: string; unfreezeFrom: string; preset: string }) => {
        setRerunNote('run the same command again: the cached activations are kept, training starts over at epoch 1');
        await finetuneRun({
          from: o.from,
          out: o.out,
          manifest: o.manifest,
          preset: o.preset as FinetunePreset,
          unfreezeFrom: o.unfreezeFrom,
          weightDecay: o.weightDecay,
          layerDecay: o.layerDecay,
          schedule: o.schedule,
          warmupEpochs: o.warmupEpochs,
          mixup: o.mixup,
          cutmix: o.cutmix,
          averageLast: o.averageLast,
          batchSize: o.batchSize,
          epochs: o.epochs,
          patience: o.patience,
          lr: o.lr,
          views: o.views,
          labelSmoothing: o.labelSmoothing,
          seed: o.seed,
          threads: o.threads,
          cacheRoot: o.cacheDir,
        });
      }),
    );
}
