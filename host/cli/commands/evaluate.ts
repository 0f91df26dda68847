import type { Command } from 'commander';
import { action, parseIntOption } from '../run.ts';
import { ERROR_GALLERY_MAX } from '../../eval/error-gallery.ts';
import { runCompare, runEvaluate } from '../../eval/run-evaluate.ts';
import { intervalLine, perClassTable } from '../../eval/markdown.ts';
import { log } from '../../util/log.ts';

interface EvaluateFlags {
  manifest?: string;
  split: string;
  out?: string;
  floatRun?: string;
  batchSize: number;
  bootstrap: number;
  seed: number;
  limit?: number;
  verify: boolean;
  errors: number;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('evaluate')
    .summary('metrics of a run or .tflite on a split')
    .argument('<target>', 'a run folder (plastisort train/finetune) or an int8 .tflite (plastisort quantize)')
    .description(
      'Score a model on one split of the manifest: accuracy, per-class precision/recall/F1/support, macro and ' +
        'weighted averages, confusion matrix, bootstrap 95% intervals. Writes metrics.json, metrics.md, ' +
        'predictions.json, confusion.svg/.png (and training-curves.svg/.png for a run). A .tflite runs through ' +
        'LiteRT with the firmware input contract (q = p − 128) and also reports top-1 agreement with its float run.',
    )
    .option('--manifest <file>', 'split manifest (default: the one recorded in the run)')
    .option('--split <name>', 'train, val or test', 'test')
    .option('--out <dir>', 'output folder (default: the run folder; for FILE.tflite, FILE-eval/ beside it)')
    .option('--float-run <run>', 'float run to compare a .tflite with (default: the run named in its metadata)')
    .option('--batch-size <n>', 'images per forward pass', parseIntOption('--batch-size', 1), 16)
    .option('--bootstrap <n>', 'bootstrap resamples for the 95% intervals (0 = off)', parseIntOption('--bootstrap'), 1000)
    .option('--seed <n>', 'seed of the bootstrap', parseIntOption('--seed'), 0)
    .option('--limit <n>', 'evaluate only the first N images of the split (quick check)', parseIntOption('--limit', 1))
    .option('--no-verify', "don't re-hash the split's image files against the manifest")
    .option('--errors <n>', 'draw at most N misclassified images into errors.png, by true class, most confident first (0 = none)', parseIntOption('--errors'), ERROR_GALLERY_MAX)
    .option('--json', 'print metrics.json to stdout instead of the table')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  plastisort evaluate runs/finetune --split test\n' +
        '  plastisort evaluate out/model.tflite --manifest split.json --float-run runs/finetune\n',
    )
    .action(
      action(async (target: string, flags: EvaluateFlags) => {
        const r = await runEvaluate({
          target,
          manifest: flags.manifest,
          split: flags.split,
          out: flags.out,
          floatRun: flags.floatRun,
          batchSize: flags.batchSize,
          bootstrap: flags.bootstrap,
          seed: flags.seed,
          limit: flags.limit,
          skipVerify: !flags.verify,
          errors: flags.errors,
        });
        if (flags.json) {
          process.stdout.write(JSON.stringify(r.metrics, null, 2) + '\n');
        } else {
          process.stdout.write(perClassTable(r.metrics) + '\n');
          const ci = intervalLine(r.metrics);
          if (ci) process.stdout.write(ci + '\n');
          if (r.metrics.agreement) {
            process.stdout.write(
              `top-1 agreement with ${r.metrics.agreement.reference}: ${(r.metrics.agreement.top1 * 100).toFixed(2)}% of ${r.metrics.agreement.n}\n`,
            );
          }
        }
        log.info(`wrote ${[r.files.metrics, r.files.markdown, r.files.confusion.png, r.files.errors].filter(Boolean).join(', ')}`);
      }),
    );

  program
    .command('compare')
    .summary('side-by-side metrics of two evaluations')
    .argument('<a>', 'first run folder, evaluation folder or metrics.json (e.g. the baseline)')
    .argument('<b>', 'second one (e.g. the fine-tuned run)')
    .description(
      'Side-by-side table of two evaluations (precision, recall, F1 per class with the F1 change, accuracy, ' +
        'macro and weighted averages) and the confusion pairs that changed most. Reads each metrics.json; ' +
        'run plastisort evaluate first.',
    )
    .option('--top <n>', 'how many changed confusion pairs to list', parseIntOption('--top', 1), 10)
    .option('--label-a <name>', 'column label for A (default: its stage and folder name)')
    .option('--label-b <name>', 'column label for B')
    .option('--json', 'print both metrics and the changes as JSON')
    .addHelpText('after', '\nExample:\n  plastisort compare runs/baseline runs/finetune\n')
    .action(
      action(async (a: string, b: string, flags: { top: number; labelA?: string; labelB?: string; json?: boolean }) => {
        const r = await runCompare(a, b, { top: flags.top, labelA: flags.labelA, labelB: flags.labelB });
        if (flags.json) {
          process.stdout.write(JSON.stringify({ a: r.a, b: r.b, changes: r.changes, ...(r.images ? { images: r.images } : {}), imageSets: r.imageSets, differs: r.differs, warnings: r.warnings }, null, 2) + '\n');
        } else {
          process.stdout.write(r.text + '\n');
        }
      }),
    );
}
