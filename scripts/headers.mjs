#!/usr/bin/env zx
// Regenerates the firmware's model headers for the model the ESP-IDF build embeds: `npm run headers`
// writes firmware/main/model/{model_data.h,model_info.h,op_resolver.h}, `npm run headers -- --check`
// only verifies them (exit 1 naming stale files). The model is, in this order: `--model FILE`; the
// PLASTISORT_MODEL_FILE of firmware/sdkconfig (menuconfig), relative to firmware/; models/default.tflite,
// or the only .tflite in models/. The build writes the array (model_data.cc) itself from that file.
import { createHash } from 'node:crypto';
import { $, argv, fs, path } from 'zx';

const repo = path.resolve(import.meta.dirname, '..');
// The checkout whose firmware/ and models/ are meant; another one only in tests.
const root = process.env.PLASTISORT_HEADERS_ROOT ? path.resolve(process.env.PLASTISORT_HEADERS_ROOT) : repo;
const firmwareDir = path.join(root, 'firmware');
const modelsDir = path.join(root, 'models');
const outDir = path.join(firmwareDir, 'main', 'model');

/** PLASTISORT_MODEL_FILE as menuconfig saved it, resolved like the build does; undefined when not set. */
async function configuredModel() {
  const text = await fs.readFile(path.join(firmwareDir, 'sdkconfig'), 'utf8').catch(() => '');
  const m = /^CONFIG_PLASTISORT_MODEL_FILE="(.*)"$/m.exec(text);
  return m && m[1] ? path.resolve(firmwareDir, m[1]) : undefined;
}

async function defaultModel() {
  const models = (await fs.readdir(modelsDir).catch(() => [])).filter((f) => f.endsWith('.tflite')).sort();
  if (models.includes('default.tflite')) return path.join(modelsDir, 'default.tflite');
  if (models.length === 1) return path.join(modelsDir, models[0]);
  if (models.length === 0) {
    console.error('headers: no .tflite in models/; nothing to generate (the firmware build needs one: add models/default.tflite)');
    process.exit(0);
  }
  console.error(`headers: several models in models/ (${models.join(', ')}) and no default.tflite; name the built-in one default.tflite or pass --model FILE`);
  process.exit(1);
}

let chosen;
let from;
if (argv.model) {
  chosen = path.resolve(String(argv.model));
  from = '--model';
} else if ((chosen = await configuredModel())) {
  from = 'PLASTISORT_MODEL_FILE in firmware/sdkconfig';
} else {
  chosen = await defaultModel();
  from = 'models/';
}
if (!(await fs.pathExists(chosen))) {
  console.error(`headers: ${path.relative(root, chosen)} (from ${from}) does not exist; add it, or pass --model FILE`);
  process.exit(1);
}
console.error(`headers: built-in model ${path.relative(root, chosen)} (from ${from})`);

$.verbose = false;
const args = ['export', path.relative(root, chosen), '--out', path.relative(root, outDir), '--no-array'];
if (argv.check) args.push('--check');
const r = await $({ cwd: root, nothrow: true, stdio: ['inherit', 'inherit', 'inherit'] })`node --import ${path.join(repo, 'node_modules/tsx/dist/loader.mjs')} ${path.join(repo, 'host/cli/index.ts')} ${args}`;

// An array left by `plastisort export` takes precedence over PLASTISORT_MODEL_FILE in the build.
const leftover = path.join(outDir, 'model_data.cc');
if (r.exitCode === 0 && (await fs.pathExists(leftover))) {
  const sha = (await fs.readFile(leftover, 'utf8')).match(/^\/\/ model sha256: ([0-9a-f]+)$/m)?.[1];
  const want = createHash('sha256').update(await fs.readFile(chosen)).digest('hex');
  if (sha !== want) {
    console.error(
      `headers: firmware/main/model/model_data.cc (written by plastisort export) embeds model ${String(sha).slice(0, 12)}…, not ${path.relative(root, chosen)}, and the build uses it first: delete it so the build embeds ${path.relative(root, chosen)}`,
    );
    process.exit(1);
  }
}
process.exit(r.exitCode ?? 1);
