import type { Command } from 'commander';
import { formatInspectReport, inspectTfliteFile } from '../../tflite/inspect.ts';
import { action } from '../run.ts';
import { UserError } from '../../util/errors.ts';

export function register(program: Command): void {
  program
    .command('inspect')
    .summary('ops, tensors, weights and arena of a .tflite')
    .description(
      'show what a .tflite model holds: operators and counts, tensors with shapes and quantization, weight bytes by type, the peak activation memory of a greedy arena plan (to size the TFLM arena), inputs/outputs and plastisort metadata',
    )
    .argument('<file.tflite>', 'model to inspect')
    .option('--json', 'print the report as JSON (stdout) instead of text', false)
    .addHelpText(
      'after',
      '\nThe arena figure counts activations only; TensorFlow Lite Micro needs a few KB more for its own bookkeeping.\nA damaged or non-TFLite file ends with a one-line error and exit code 1; a file that reads but has\nproblems (buffer sizes, shapes, quantization, plastisort metadata) prints its report, then the same.',
    )
    .action(
      action(async (file: string, o: { json: boolean }) => {
        const report = await inspectTfliteFile(file);
        process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : formatInspectReport(report));
        // The report is printed whole (it is how the damage is found); the exit status says "damaged".
        const flagged = [...report.problems, ...(report.plastisortError ? ['its plastisort metadata is unreadable, see the report'] : [])];
        if (flagged.length) {
          throw new UserError(`${file}: damaged model, ${flagged.length} problem${flagged.length === 1 ? '' : 's'} (first: ${flagged[0]}); re-create it with plastisort quantize`);
        }
      }),
    );
}
