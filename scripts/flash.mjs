#!/usr/bin/env zx
// `npm run flash [-- plastisort flash options]`: builds the firmware first when ESP-IDF's idf.py is on
// PATH, then flashes. Without ESP-IDF it uses the build already in firmware/build or --bundle DIR.
import { $, argv, path, which } from 'zx';

const root = path.resolve(import.meta.dirname, '..');
// Everything after this script's own path, however it was spelt (npm runs `zx scripts/flash.mjs`).
const self = process.argv.findIndex((a) => path.resolve(a) === import.meta.filename);
const args = self < 0 ? [] : process.argv.slice(self + 1);
$.verbose = true;
if (!argv.bundle && (await which('idf.py', { nothrow: true }))) {
  await $({ cwd: path.join(root, 'firmware') })`idf.py set-target esp32s3`.nothrow();
  await $({ cwd: path.join(root, 'firmware') })`idf.py build`;
} else if (!argv.bundle) {
  console.error('idf.py not on PATH: using the existing build in firmware/build (or pass --bundle DIR)');
}
// The flasher's own terminal (progress bars, its one-line errors) and its exit code, no zx stack trace.
const flash = await $({ stdio: 'inherit', verbose: false })`node ${path.join(root, 'dist/plastisort.js')} flash ${args}`.nothrow();
process.exitCode = flash.exitCode ?? 1;
