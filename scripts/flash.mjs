#!/usr/bin/env zx
// `npm run flash [-- plastisort flash options]`: builds the firmware first when ESP-IDF's idf.py is on
// PATH, then flashes. Without ESP-IDF it uses the build already in firmware/build or --bundle DIR.
import { $, argv, path, which } from 'zx';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(process.argv.indexOf(import.meta.filename) + 1);
$.verbose = true;
if (!argv.bundle && (await which('idf.py', { nothrow: true }))) {
  await $({ cwd: path.join(root, 'firmware') })`idf.py set-target esp32s3`.nothrow();
  await $({ cwd: path.join(root, 'firmware') })`idf.py build`;
} else if (!argv.bundle) {
  console.error('idf.py not on PATH: using the existing build in firmware/build (or pass --bundle DIR)');
}
await $`node ${path.join(root, 'dist/plastisort.js')} flash ${args}`;
