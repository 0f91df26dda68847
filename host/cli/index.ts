import { Command } from 'commander';
import { register as registerData } from './commands/data.ts';
import { register as registerTrain } from './commands/train.ts';
import { register as registerEvaluate } from './commands/evaluate.ts';
import { register as registerQuantize } from './commands/quantize.ts';
import { register as registerInspect } from './commands/inspect.ts';
import { register as registerExport } from './commands/export.ts';
import { register as registerHil } from './commands/hil.ts';
import { register as registerFlash } from './commands/flash.ts';
import { register as registerPipeline } from './commands/pipeline.ts';
import { register as registerBackbone } from './commands/backbone.ts';
import { installSignalHandlers } from '../util/children.ts';
import { reportFailure } from './run.ts';

installSignalHandlers();
// A failure outside a command's action (a worker, a stray promise) is reported like any other: one line.
process.on('uncaughtException', (e) => {
  reportFailure(e);
  process.exit();
});
process.on('unhandledRejection', (e) => {
  reportFailure(e);
  process.exit();
});

const program = new Command();
program
  .name('plastisort')
  .description('From photos of plastic waste to a verified int8 classifier on an ESP32-S3 sorting bin.')
  .version('0.1.0')
  // Usage errors keep the house format: one line, `plastisort: …`, ending with the way to the help.
  .configureOutput({
    outputError: (text, write) => write(`plastisort: ${text.replace(/^error: /, '').replace(/\s+/g, ' ').trim()} (run with --help for usage)\n`),
  })
  .option('--offline', 'never use the network (same as PLASTISORT_OFFLINE=1): --backbone imagenet uses only the cache and ../shared')
  .hook('preAction', (cmd) => {
    if (cmd.opts().offline) process.env.PLASTISORT_OFFLINE = '1';
  });

registerData(program);
registerTrain(program);
registerEvaluate(program);
registerQuantize(program);
registerInspect(program);
registerExport(program);
registerHil(program);
registerFlash(program);
registerPipeline(program);
registerBackbone(program);

await program.parseAsync(process.argv);
