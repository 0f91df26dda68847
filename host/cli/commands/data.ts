import { Command, Option } from 'commander';
import { action, parseIntOption } from '../run.ts';
import { generateSynthDataset } from '../../data/synth.ts';
import { SYNTH_CLASSES } from '../../data/synth-scene.ts';
import { log } from '../../util/log.ts';
import { UserError } from '../../util/errors.ts';
import { logSplitSummary, parseRatios, splitDataset } from '../../data/split.ts';
import { isManifestFile, manifestInputs, readManifest, writeManifest } from '../../data/manifest-io.ts';
import { guardOutDir, guardOutFile } from '../../util/out-dir.ts';
import { DATA_REPORT_OUTPUT } from '../../data/data-report-output.ts';

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
    .command('split')
    .description(
      'Import a folder of class folders and write a leakage-safe split manifest: exact and near duplicates ' +
        'are grouped and a group never straddles train/val/test; the split is stratified by class and ' +
        'byte-identical for the same input and seed.',
    )
    .requiredOption('--data <dir>', 'folder with one subfolder per class (any depth below; CLASS/default and CLASS/real_world become the source field)')
    .requiredOption('--out <file>', 'manifest to write (JSON, written atomically)')
    .addOption(new Option('--classes <list>', 'comma-separated class folders to use, in label order').argParser(parseList))
    .option('--ratios <t,v,t>', 'train,val,test percentages summing to 100', '70,15,15')
    .option('--seed <n>', 'random seed of the split', parseIntOption('--seed'), 1)
    .addOption(new Option('--phash-bits <n>', 'difference-hash size').choices(['64', '256']).default('256'))
    .option('--max-hamming <n>', 'near-duplicate threshold: differing hash bits', parseIntOption('--max-hamming'), 10)
    .option('--keep-majority', 'keep the majority class of a duplicate group with conflicting labels (default: drop the group)', false)
    .addHelpText(
      'after',
      '\nFiles that cannot be decoded are skipped and listed (stderr and the manifest\'s "dropped"); the command\n' +
        'fails if a class ends up with no images. Example:\n  plastisort data split --data data/plastic --out runs/split.json',
    )
    .action(
      action(
        async (opts: {
          data: string;
          out: string;
          classes?: string[];
          ratios: string;
          seed: number;
          phashBits: string;
          maxHamming: number;
          keepMajority: boolean;
        }) => {
          const t0 = Date.now();
          const ratios = parseRatios(opts.ratios);
          guardOutFile(opts.out, { command: 'data split', inputs: [opts.data], isOwn: isManifestFile });
          const { manifest, emptyClasses } = await splitDataset({
            data: opts.data,
            classes: opts.classes,
            ratios,
            seed: opts.seed,
            phashBits: Number(opts.phashBits) as 64 | 256,
            maxHamming: opts.maxHamming,
            keepMajority: opts.keepMajority,
          });
          logSplitSummary(manifest);
          if (emptyClasses.length > 0) {
            throw new UserError(
              `class folder(s) ${emptyClasses.map((c) => `"${c}"`).join(', ')} under ${opts.data} have no usable images; add images or leave the class out with --classes (manifest not written)`,
            );
          }
          await writeManifest(opts.out, manifest);
          log.info(`wrote ${opts.out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        },
      ),
    );

  data
    .command('report')
    .description(
      'Exploratory report of a split manifest: counts per class × split, duplicates and label conflicts, ' +
        'skipped files, image size distribution and a contact sheet of random samples per class.',
    )
    .requiredOption('--manifest <file>', 'split manifest written by plastisort data split')
    .requiredOption('--out <dir>', 'folder for report.md, contact-sheet.png, image-sizes.svg/.png')
    .option('--samples <n>', 'samples per class on the contact sheet', parseIntOption('--samples'), 8)
    .action(
      action(async (opts: { manifest: string; out: string; samples: number }) => {
        if (opts.samples < 1 || opts.samples > 64) {
          throw new UserError(`--samples ${opts.samples} is out of range; use 1 to 64`);
        }
        guardOutDir(opts.out, { ...DATA_REPORT_OUTPUT, inputs: manifestInputs(opts.manifest) });
        const { manifest } = await readManifest(opts.manifest);
        // Loaded on demand: the chart stack (vega) is heavy and only this command needs it.
        const { buildDataReport } = await import('../../data/data-report.ts');
        const paths = await buildDataReport(manifest, opts.out, { manifestPath: opts.manifest, samplesPerClass: opts.samples });
        log.info(`wrote ${paths.markdown}, ${paths.contactSheet}, ${paths.sizeChartSvg}`);
      }),
    );

  data
    .command('synth')
    .description(
      'Write a deterministic synthetic dataset of drawn plastic items (one PNG folder per class), ' +
        'usable wherever a photo folder is expected.',
    )
    .requiredOption('--out <dir>', 'output folder (replaced atomically)')
    .option('--per-class <n>', 'images per class', parseIntOption('--per-class'), 120)
    .option('--size <px>', 'image width and height in pixels', parseIntOption('--size'), 160)
    .option('--seed <n>', 'random seed; the same seed gives byte-identical files', parseIntOption('--seed'), 1)
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
