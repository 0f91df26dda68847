#!/usr/bin/env zx
// Builds the firmware's portable core, the simulator and their unit tests on the host, and runs ctest.
// Called by `npm test` before vitest, which uses the simulator binary in its end-to-end tests.
import { $, path } from 'zx';

const root = path.resolve(import.meta.dirname, '..');
$.verbose = false;
await $`node ${path.join(root, 'scripts/build-native.mjs')}`.pipe(process.stderr);
await $`ctest --test-dir ${path.join(root, 'build-host')} --output-on-failure -j 2`.pipe(process.stdout);
