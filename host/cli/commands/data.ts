import { Command, InvalidArgumentError, Option } from 'commander';
import { action } from '../run.ts';
import { generateSynthDataset, SYNTH_CLASSES } from '../../data/synth.ts';
import { log } from '../../util/log.ts';

/** Like run.ts parseIntOption, but reports through commander (one line, no stack trace). */
function intOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number, got "${value}".`);
    return n;
  };
}

function parseList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function register(program: Command): void {
  const data = program
    .command('data')
    .description('Dataset tools: synthetic data, leakage-safe split, EDA report.');

  data
    .command('synth')
    .description(
      'Write a deterministic synthetic dataset of drawn plastic items (one PNG folder per class), ' +
        'usable wherever a photo folder is expected.',
    )
    .requiredOption('--out <dir>', 'output folder (replaced atomically)')
    .option('--per-class <n>', 'images per class', intOption('--per-class'), 120)
    .option('--size <px>', 'image width and height in pixels', intOption('--size'), 160)
    .option('--seed <n>', 'random seed; the same seed gives byte-identical files', intOption('--seed'), 1)
    .addOption(
      new Option('--classes <list>', `comma-separated subset of: ${SYNTH_CLASSES.join(',')}`)
        .argParser(parseList)
        .default([...SYNTH_CLASSES], 'all six'),
    )
    .action(
      action(async (opts: { out: string; perClass: number; size: number; seed: number; classes: string[] }) => {
        const t0 = Date.now();
        const r = await generateSynthDataset({
          out: opts.out,
          perClass: opts.perClass,
          size: opts.size,
          seed: opts.seed,
          classes: opts.classes,
        });
        log.info(
          `wrote ${r.files} images (${r.classes.length} classes × ${r.perClass}, ${r.size}px, seed ${r.seed}) to ${r.out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        );
      }),
    );
}
