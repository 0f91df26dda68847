import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { runFullPipeline } from '../../pipeline/pipeline.ts';
import { UserError } from '../../util/errors.ts';
import { action, parseCalibOption, parseIntOption } from '../run.ts';

interface PipelineCliOptions {
  data?: string;
  out?: string;
  inputSize: number;
  backbone?: string;
  seed: number;
  synthPerClass: number;
  epochs?: number;
  finetuneEpochs?: number;
  views: number;
  calib: number | 'all';
  port?: string;
  baud?: number;
  hil: boolean;
}

export function register(program: Command): void {
  program
    .command('pipeline')
    .summary('photos → … → report in one resumable run (npm start)')
    .description(
      'photos → split → train → fine-tune → evaluate → quantize → evaluate int8 → export headers → HIL → HTML report; ' +
        'stages whose inputs did not change are skipped, so a re-run resumes where an interrupted one stopped',
    )
    .option('--data <dir>', 'photo folder with one subfolder per class (default: the built-in synthetic set)')
    .option('--out <dir>', 'run folder (default: out/default, or out/<data folder name>)')
    .option('--input-size <n>', 'model input side, 96..224', parseIntOption('--input-size'), 96)
    .option('--backbone <source>', 'imagenet (default: the cached Keras ImageNet weights, else ../shared, else download them once; nsfwjs only if all fail), a tfjs folder, .tflite, Keras .h5, or nsfwjs')
    .option('--seed <n>', 'seed for synthesis, split, augmentation and training', parseIntOption('--seed'), 1)
    .option('--synth-per-class <n>', 'synthetic images per class when no --data is given', parseIntOption('--synth-per-class'), 60)
    .option('--epochs <n>', 'baseline epochs (early stopping may end sooner)', parseIntOption('--epochs'))
    .option('--finetune-epochs <n>', 'fine-tuning epochs', parseIntOption('--finetune-epochs'))
    .option('--views <n>', 'augmented views of each training image in the feature cache', parseIntOption('--views'), 2)
    .option('--calib <n|all>', 'calibration images for int8 quantization, or all of the training split', parseCalibOption('--calib'), 'all' as const)
    .option('--port <path>', 'run HIL on a board at this serial port instead of the simulator')
    .option('--baud <n>', 'HIL line rate (board UART, or simulator throttle)', parseIntOption('--baud'))
    .option('--no-hil', 'skip the hardware-in-the-loop stage')
    .action(
      action(async (o: PipelineCliOptions) => {
        if (!o.hil && (o.port !== undefined || o.baud !== undefined)) {
          throw new UserError(`--no-hil skips the stage that ${o.port !== undefined ? '--port' : '--baud'} is for; drop one of them`);
        }
        const out = o.out ?? (o.data ? `out/${basename(resolve(o.data))}` : 'out/default');
        const { paths, outcomes } = await runFullPipeline({
          data: o.data,
          out,
          inputSize: o.inputSize,
          backbone: o.backbone,
          seed: o.seed,
          synthPerClass: o.synthPerClass,
          baselineEpochs: o.epochs,
          finetuneEpochs: o.finetuneEpochs,
          views: o.views,
          calib: o.calib,
          port: o.port,
          baud: o.baud,
          skipHil: !o.hil,
        });
        const ran = outcomes.filter((s) => s.status === 'ran').map((s) => s.name);
        process.stdout.write(
          `\nreport: ${paths.report}\nmodel: ${paths.tflite}\nheaders: ${paths.headers}\n` +
            `stages run: ${ran.join(', ') || 'none (all up to date)'}\n`,
        );
      }),
    );
}
