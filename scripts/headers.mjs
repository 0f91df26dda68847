#!/usr/bin/env zx
// Regenerates the firmware's model headers from the model in models/: `npm run headers` writes
// firmware/main/model/, `npm run headers -- --check` only verifies them (exit 1 naming stale files).
// The built-in model is models/default.tflite, or the only .tflite in models/ when there is one.
// Other models are not built in; deploy them with `plastisort flash --model FILE`.
import { $, argv, fs, path } from 'zx';

const root = path.resolve(import.meta.dirname, '..');
const modelsDir = path.join(root, 'models');
const outDir = path.join(root, 'firmware', 'main', 'model');
const models = (await fs.readdir(modelsDir).catch(() => [])).filter((f) => f.endsWith('.tflite')).sort();

let chosen;
if (models.includes('default.tflite')) chosen = 'default.tflite';
else if (models.length === 1) chosen = models[0];

if (!chosen) {
  if (models.length === 0) {
    console.error('headers: no .tflite in models/; nothing to generate (the firmware build needs one: add models/default.tflite)');
    process.exit(0);
  }
  console.error(`headers: several models in models/ (${models.join(', ')}) and no default.tflite; name the built-in one default.tflite`);
  process.exit(1);
}
for (const other of models.filter((m) => m !== chosen)) {
  console.error(`headers: models/${other} is not built in (deploy it with plastisort flash --model)`);
}

$.verbose = false;
const args = ['export', path.join('models', chosen), '--out', path.relative(root, outDir)];
if (argv.check) args.push('--check');
const r = await $({ cwd: root, nothrow: true, stdio: ['inherit', 'inherit', 'inherit'] })`node --import tsx host/cli/index.ts ${args}`;
process.exit(r.exitCode ?? 1);
