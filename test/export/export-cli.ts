// The `plastisort export` command alone (its commander wiring and action wrapper), so the tests do
// not pay for loading every other stage's dependencies (tfjs, sharp, ...) on each spawn.
import { Command } from 'commander';
import { register } from '../../host/cli/commands/export.ts';

const program = new Command().name('plastisort');
register(program);
await program.parseAsync(process.argv);
