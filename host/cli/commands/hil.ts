import type { Command } from 'commander';
import { Option } from 'commander';
import { basename, join, resolve } from 'node:path';
import { manifestInputs } from '../../data/manifest-io.ts';
import { HIL_OUTPUT, checkHilOptions } from '../../hil/options.ts';
import { retireForeignJournal, withJournalLock } from '../../hil/journal-lock.ts';
import { prepareOutDir } from '../../util/out-dir.ts';
import { EXIT } from '../../util/exit-codes.ts';
import { action, parseIntOption } from '../run.ts';
import { runHil } from '../../hil/run-hil.ts';
import { log } from '../../util/log.ts';
import type { SplitName } from '../../data/manifest.ts';
import { ROUNDINGS, type Rounding } from '../../link/sim-process.ts';

interface HilCliOptions {
  port?: string;
  sim?: boolean;
  simRounding: Rounding;
  model: string;
  manifest: string;
  split: string;
  journal?: string;
  out?: string;
  dump: number;
  baud?: number;
  window: number;
  timeout: number;
  retries: number;
  references: boolean;
  run?: string;
}

export function register(program: Command): void {
  program
    .command('hil')
    .summary('hardware-in-the-loop run on a board or the simulator')
    .description(
      'Hardware-in-the-loop run: stream a manifest split to the board (or to sorter-sim), journal the results, and compare them with desktop int8 (LiteRT) and the bit-exact simulator in its three arithmetic variants (TFLM double and single rounding, the XNNPACK arithmetic of LiteRT).',
    )
    .option('--port <path>', 'serial port of the board, e.g. /dev/ttyACM0')
    .option('--sim', 'run against build-host/sim/sorter-sim on a pseudo-terminal instead of a board')
    .addOption(new Option('--sim-rounding <mode>', 'arithmetic of the simulated device: double (the default: TFLM as esp-tflite-micro builds it, the board\'s arithmetic), single (TFLM with TFLITE_SINGLE_ROUNDING), or xnnpack (desktop LiteRT\'s; no device computes it)').choices([...ROUNDINGS]).default('double'))
    .requiredOption('--model <file.tflite>', 'the int8 model the device runs (its SHA-256 must match the device)')
    .requiredOption('--manifest <file>', 'split manifest from plastisort data split')
    .option('--split <name>', 'split to stream: train, val or test', 'test')
    .option('--journal <file.jsonl>', 'results journal; an interrupted run resumes from it (default: OUT/journal.jsonl)')
    .option('--out <dir>', 'report folder (default: out/hil/<model>-<split>)')
    .option('--dump <n>', 'for the first N disagreeing images, fetch every tensor from device and simulator and name the first layer that differs', parseIntOption('--dump'), 0)
    .option('--baud <n>', 'line rate: the board UART, or the simulator throttle with --sim (default: unthrottled for --sim, 921600 for --port)', parseIntOption('--baud'))
    .option('--window <n>', 'requests in flight (2: the next image is on the wire while the device computes)', parseIntOption('--window'), 2)
    .option('--timeout <ms>', 'answer timeout beyond the transfer time', parseIntOption('--timeout'), 10_000)
    .option('--retries <n>', 'resends of an unanswered request', parseIntOption('--retries'), 2)
    .option('--run <dir>', 'trained run folder the model came from: adds desktop float metrics beside the device')
    .option('--no-references', 'skip the LiteRT and simulator comparisons (device metrics only)')
    .addHelpText(
      'after',
      `
Examples:
  plastisort hil --sim --model models/plastic6.tflite --manifest split.json
  plastisort hil --port /dev/ttyACM0 --model models/plastic6.tflite --manifest split.json --dump 1

Writes OUT/hil-report.json and OUT/hil-report.md. Re-running the same command after an interruption
(Ctrl-C, unplugged board, killed simulator) resumes from the journal. The run is refused when the
device's model hash differs from --model or the device speaks another protocol version.`,
    )
    .action(
      action(async (opts: HilCliOptions) => {
        checkHilOptions(opts);
        const out = opts.out ?? `out/hil/${basename(opts.model).replace(/\.tflite$/, '')}-${opts.split}`;
        await prepareOutDir(out, { ...HIL_OUTPUT, inputs: [opts.model, ...manifestInputs(opts.manifest), opts.run] });
        const journal = resolve(opts.journal ?? join(out, 'journal.jsonl'));
        if (!opts.journal) retireForeignJournal(journal, opts.model, opts.manifest, opts.split);
        const { report, reportPath, complete } = await withJournalLock(journal, () => runHil({
          model: opts.model,
          manifest: opts.manifest,
          split: opts.split as SplitName,
          ...(opts.port ? { port: opts.port } : {}),
          sim: !!opts.sim,
          simRounding: opts.simRounding,
          baud: opts.baud ?? (opts.sim ? 0 : 921_600),
          ...(opts.journal ? { journal: opts.journal } : {}),
          out,
          dump: opts.dump,
          window: opts.window,
          timeoutMs: opts.timeout,
          retries: opts.retries,
          references: opts.references,
          ...(opts.run ? { run: opts.run } : {}),
        }));
        const t = report.timing;
        log.info(
          `hil: ${report.n} images, device accuracy ${(100 * report.metrics.device.accuracy).toFixed(2)} %` +
            (report.vsLitert ? `, top-1 agreement with LiteRT ${(100 * report.vsLitert.top1).toFixed(2)} %` : '') +
            `, rounding matched: ${report.roundingMatched}, ${t.imagesPerSecond.toFixed(2)} images/s`,
        );
        for (const d of report.dumps) {
          log.info(`hil: ${d.item}: ${d.firstDifferingLayer ? `first differing layer #${d.firstDifferingLayer.index} ${d.firstDifferingLayer.name}` : 'every tensor matches the simulator'}`);
        }
        log.info(`hil: report ${reportPath}`);
        if (!complete) process.exitCode = EXIT.incomplete;
      }),
    );
}
