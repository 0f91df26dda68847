import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { checkExport, DEFAULT_EXPORT_DIR, exportModel } from '../../export/export.ts';
import type { ModelSummary } from '../../export/generate.ts';
import { log } from '../../util/log.ts';
import { UserError } from '../../util/errors.ts';
import { action } from '../run.ts';

function describe(s: ModelSummary): string {
  return (
    `model ${s.sha256.slice(0, 12)}… ${s.bytes} bytes, input ${s.inputWidth}x${s.inputHeight}x${s.inputChannels}, ` +
    `${s.labels.length} classes, ops ${s.ops.map((o) => o.op).join(' ')}, arena ${s.arena.totalBytes} bytes ` +
    `(plan ${s.arena.plannedBytes} + margin ${s.arena.marginBytes})`
  );
}

/** The firmware's model folder under the current folder; outside a checkout, --out must be given. */
function defaultOut(): string {
  if (!existsSync(dirname(DEFAULT_EXPORT_DIR))) {
    throw new UserError(
      `no --out given and ${dirname(DEFAULT_EXPORT_DIR)} is not here (${process.cwd()} is not a plastisort checkout); run from the checkout or pass --out DIR`,
    );
  }
  return DEFAULT_EXPORT_DIR;
}

export function register(program: Command): void {
  program
    .command('export')
    .summary('firmware headers (C array, model info, op resolver)')
    .description(
      'write the firmware files for an int8 .tflite: model_data.h/.cc (16-byte aligned C array), model_info.h (input shape, quantization, labels, SHA-256, arena size) and op_resolver.h (a TFLM MicroMutableOpResolver with exactly the model\'s ops)',
    )
    .argument('<file.tflite>', 'full-int8 model, as written by plastisort quantize')
    .option('--out <dir>', `output folder (default: ${DEFAULT_EXPORT_DIR}, in a plastisort checkout)`)
    .option('--check', 'write nothing; exit 1 naming every file that is missing or differs from what the model gives', false)
    .option('--no-array', 'write only the three headers; the ESP-IDF build embeds the array itself from PLASTISORT_MODEL_FILE (what npm run headers does)')
    .addHelpText(
      'after',
      `
The output is byte-identical for the same model (no timestamps, no paths). model_data.cc (the large
array) is not committed: the ESP-IDF build writes the same file from models/*.tflite, so --check
accepts its absence. \`npm run headers\` runs this for the model in models/.
Exit codes: 0 ok, 1 bad input or stale files (--check).`,
    )
    .action(
      action(async (file: string, flags: { out?: string; check: boolean; array: boolean }) => {
        const o = { ...flags, out: flags.out ?? defaultOut() };
        if (o.check) {
          const r = await checkExport(file, o.out);
          if (r.stale.length) {
            throw new UserError(
              `${o.out}: stale or missing for ${file}: ${r.stale.join(', ')}; run plastisort export ${file} --out ${o.out} (or npm run headers)`,
            );
          }
          log.info(`up to date: ${o.out} matches ${file} (${describe(r.summary)})`);
          for (const p of r.absentBuildTime) log.info(`not present (written by the firmware build): ${p}`);
          return;
        }
        const r = await exportModel(file, o.out, { array: o.array });
        for (const p of r.written) log.info(`wrote ${p}`);
        for (const p of r.unchanged) log.info(`unchanged ${p}`);
        log.info(describe(r.summary));
      }),
    );
}
