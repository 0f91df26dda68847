import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { checkInputSize } from '../train/mobilenetv2.ts';
import { checkPortPath } from '../hil/options.ts';
import { findSimBinary } from '../link/sim-process.ts';
import { UserError } from '../util/errors.ts';
import { guardOutDir, holdsAll, markOutput, type OutGuard } from '../util/out-dir.ts';
import type { PipelineOptions } from './pipeline.ts';
import { checkWholeNumber } from '../util/whole-number.ts';

/** The pipeline's folder: marked, or (before markers) holding its stage stamps. */
export const PIPELINE_OUTPUT: OutGuard = { command: 'pipeline', legacy: holdsAll('.stamps') };

/**
 * Every option of every stage and the output folder, checked before the first stage runs: a bad
 * --port or --calib must not surface after minutes of training.
 */
export async function checkPipelineOptions(o: PipelineOptions, backbone: string | undefined): Promise<void> {
  if (o.data) {
    if (!existsSync(o.data)) throw new UserError(`--data ${o.data}: no such folder; point it at a folder with one subfolder of photos per class`);
    if (!statSync(o.data).isDirectory()) throw new UserError(`--data ${o.data} is a file; point it at a folder with one subfolder of photos per class`);
  }
  checkInputSize(o.inputSize);
  checkWholeNumber('--seed', o.seed, 0, 2 ** 31 - 1);
  // A class needs images in train, val and test: fewer than 10 leaves a split empty.
  checkWholeNumber('--synth-per-class', o.synthPerClass, 10, 100_000);
  checkWholeNumber('--epochs', o.baselineEpochs, 1, 10_000);
  checkWholeNumber('--finetune-epochs', o.finetuneEpochs, 1, 10_000);
  checkWholeNumber('--views', o.views, 1, 64);
  if (o.calib !== 'all') checkWholeNumber('--calib', o.calib, 1, 100_000);
  checkWholeNumber('--baud', o.baud, 1, 20_000_000);
  if (o.backbone && o.backbone !== 'nsfwjs' && o.backbone !== 'imagenet' && !existsSync(o.backbone)) {
    throw new UserError(`--backbone ${o.backbone}: no such file or folder; give imagenet, a tfjs folder, a .tflite, a Keras .h5 or nsfwjs`);
  }
  if (!o.skipHil) {
    if (o.port) checkPortPath(o.port);
    else findSimBinary();
  }
  guardOutDir(o.out, { ...PIPELINE_OUTPUT, inputs: [o.data, backbone] });
  await mkdir(o.out, { recursive: true });
  await markOutput(o.out, PIPELINE_OUTPUT.command);
}
