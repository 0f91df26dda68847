import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { action, parseCalibOption, parseIntOption } from '../run.ts';
import { initBackend } from '../../train/backend.ts';
import { checkQuantizeOptions, quantizeRun, reportPathFor } from '../../quantize/quantize-run.ts';
import { log } from '../../util/log.ts';

function parsePercentile(value: string): number {
  const n = Number(value);
  if (!(n > 50 && n <= 100)) throw new InvalidArgumentError(`--percentile must be in (50, 100], got "${value}"`);
  return n;
}

function pct(x: number | undefined): string {
  return x === undefined ? '—' : `${(100 * x).toFixed(1)}%`;
}

export function register(program: Command): void {
  program
    .command('quantize')
    .summary('full-int8 .tflite from a trained run')
    .description('Quantize a trained run to a full-int8 .tflite for TensorFlow Lite Micro (input q = p − 128, int8 softmax output)')
    .argument('<run>', 'trained run folder (plastisort train / finetune --out)')
    .requiredOption('--out <file>', 'output .tflite; the report goes next to it as FILE.quantize.json')
    .option('--manifest <file>', "split manifest for calibration and validation images (default: the run's own, from RUN/config.json)")
    .option('--calib <n|all>', 'calibration images from the training split, balanced over classes, or all of them (measured: fewer int8 changes than 300 on plastic6)', parseCalibOption('--calib'), 'all' as const)
    .addOption(
      new Option('--method <method>', 'activation range calibration: auto tries all three and keeps the one whose val-split class probabilities are closest to float (mean L1)')
        .choices(['auto', 'minmax', 'percentile', 'mse'])
        .default('auto'),
    )
    .option('--percentile <p>', 'clipping percentile for --method percentile', parsePercentile, 99.99)
    .option('--val <n>', 'validation images for choosing the method (default: the whole val split; 0 skips)', parseIntOption('--val'))
    .option('--no-compensate', "do not cancel the input zero point's residual offset in the first convolution's bias")
    .option('--no-bias-correction', "do not fold the mean error of the rounded weights into each layer's bias (measured: it halves int8 disagreements with float on plastic6)")
    .option('--no-measure-offset', "skip the two extra validation passes that measure the input offset's effect")
    .option('--no-bias-quant-params', "leave scale and zero point off convolution biases: ~3% smaller for MobileNetV2; TFLite Micro never reads them, but LiteRT then runs the convolutions without XNNPACK (~20x slower, other rounding)")
    .option('--seed <n>', 'seed for choosing calibration images', parseIntOption('--seed'), 1)
    .option('--threads <n>', 'tfjs backend threads where the backend allows', parseIntOption('--threads'))
    .addHelpText(
      'after',
      `
The input contract: a camera byte p (0..255) feeds the model as the int8 value p − 128; scale and zero
point come from the run's float input scaling. When no integer zero point matches it exactly (x = p/127.5 − 1
needs −0.5), the report states the residual offset and its simulated effect on validation accuracy.

Example:
  plastisort quantize runs/finetune --out models/plastic6.tflite --calib all --method auto`,
    )
    .action(
      action(async (run: string, o: { out: string; manifest?: string; calib: number | 'all'; method: 'auto' | 'minmax' | 'percentile' | 'mse'; percentile: number; val?: number; compensate: boolean; biasCorrection: boolean; measureOffset: boolean; biasQuantParams: boolean; seed: number; threads?: number }) => {
        const settings = {
          out: o.out,
          ...(o.manifest ? { manifest: o.manifest } : {}),
          calib: o.calib,
          method: o.method,
          percentile: o.percentile,
          seed: o.seed,
          ...(o.val !== undefined ? { val: o.val } : {}),
          compensate: o.compensate,
          biasCorrection: o.biasCorrection,
          measureOffset: o.measureOffset,
          biasQuantParams: o.biasQuantParams,
        };
        checkQuantizeOptions(run, settings);
        const backend = await initBackend(o.threads ? { threads: o.threads } : {});
        log.info(`tfjs backend: ${backend.name} (${backend.threads} thread${backend.threads === 1 ? '' : 's'})`);
        const r = await quantizeRun(run, settings);
        const lines = [
          `wrote ${r.output} (${r.sizes.tfliteBytes} bytes: ${r.sizes.int8WeightBytes} int8 weight + ${r.sizes.int32BiasBytes} int32 bias bytes, ${r.sizes.overheadPercent.toFixed(2)}% overhead)`,
          `calibration: ${r.calibration.images} training images, method ${r.method}${r.methodRequested === 'auto' ? ' (auto)' : ''}${r.biasCorrection ? ', bias correction' : ''}`,
          ...r.candidates.map((c) => `  ${c.method.padEnd(10)} val agreement ${pct(c.agreement)}  accuracy ${pct(c.accuracy)}`),
          r.validation ? `val: float accuracy ${pct(r.validation.floatAccuracy)}, int8 (${r.validation.evaluator}) ${pct(r.validation.int8.accuracy)}, agreement ${pct(r.validation.int8.agreement)}` : 'val: not measured',
          `input: q = p − 128, scale ${r.input.scale.toPrecision(6)}, zero point ${r.input.zeroPoint} (exact ${r.input.exactZeroPoint}); residual offset ${r.input.residualOffset.toPrecision(3)} (${r.input.residualOffsetLsb.toFixed(2)} LSB)${r.input.compensatedInFirstLayer ? ', cancelled in the first convolution bias' : ''}`,
          ...(r.input.effect ? [`  val agreement with the cancellation ${pct(r.input.effect.shipped.agreement)}, without ${pct(r.input.effect.uncompensated.agreement)}`] : []),
          `report: ${reportPathFor(r.output)} (${(r.timings.totalMs / 1000).toFixed(1)} s)`,
        ];
        process.stdout.write(lines.join('\n') + '\n');
      }),
    );
}
