#!/usr/bin/env zx
// `npm run flash [-- plastisort flash options]`: builds the firmware first when ESP-IDF's idf.py is on
// PATH, then flashes. Without ESP-IDF it uses the build already in firmware/build or --bundle DIR.
import { $, argv, fs, path, which } from 'zx';

const root = path.resolve(import.meta.dirname, '..');
// Everything after this script's own path, however it was spelt (npm runs `zx scripts/flash.mjs`).
const self = process.argv.findIndex((a) => path.resolve(a) === import.meta.filename);
const args = self < 0 ? [] : process.argv.slice(self + 1);
$.verbose = true;
if (!argv.bundle && (await which('idf.py', { nothrow: true }))) {
  // set-target wipes the build and regenerates sdkconfig from the defaults, losing every menuconfig
  // choice (pins, bin map, threshold): only when the project has no ESP32-S3 configuration yet.
  const sdkconfig = await fs.readFile(path.join(root, 'firmware', 'sdkconfig'), 'utf8').catch(() => '');
  if (!/^CONFIG_IDF_TARGET="esp32s3"$/m.test(sdkconfig)) {
    await $({ cwd: path.join(root, 'firmware') })`idf.py set-target esp32s3`;
  }
  await $({ cwd: path.join(root, 'firmware') })`idf.py build`;
} else if (!argv.bundle) {
  console.error('idf.py not on PATH: using the existing build in firmware/build (or pass --bundle DIR)');
}
// The flasher's own terminal (progress bars, its one-line errors) and its exit code, no zx stack trace.
const flash = await $({ stdio: 'inherit', verbose: false })`node ${path.join(root, 'dist/plastisort.js')} flash ${args}`.nothrow();
process.exitCode = flash.exitCode ?? 1;
