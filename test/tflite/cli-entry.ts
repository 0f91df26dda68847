/**
 * The `inspect` command alone, as the CLI registers it, so its tests do not depend on the other
 * commands' state. Run: node --import tsx test/tflite/cli-entry.ts inspect FILE [--json]
 */
import { Command } from 'commander';
import { register } from '../../host/cli/commands/inspect.ts';

const program = new Command().name('plastisort');
register(program);
await program.parseAsync(process.argv);
