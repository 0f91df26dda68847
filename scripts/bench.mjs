#!/usr/bin/env zx
// Runs benchmarks: `npm run bench` runs every bench/*.bench.ts, `npm run bench -- NAME` runs
// bench/NAME.bench.ts. Each writes its figures to bench/results/*.json.
import { $, argv, fs, path } from 'zx';

const root = path.resolve(import.meta.dirname, '..');
const all = (await fs.readdir(path.join(root, 'bench')))
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .sort();
// paper-protocol first: finetune-recipes, int8-*, quantize-plastic6 start from the runs it caches.
const FIRST = ['paper-protocol'];
const wanted = argv._.length ? argv._.map(String) : [...FIRST.filter((b) => all.includes(b)), ...all.filter((b) => !FIRST.includes(b))];
for (const name of wanted) {
  if (!all.includes(name)) {
    console.error(`bench: no benchmark "${name}"; known: ${all.join(', ') || '(none)'}`);
    process.exit(2);
  }
}
$.verbose = true;
for (const name of wanted) {
  await $`node --import tsx ${path.join(root, 'bench', `${name}.bench.ts`)}`;
}
