#!/usr/bin/env zx
// Builds the firmware's portable core, the simulator and their unit tests on the host, and runs ctest.
// Called by `npm test` before vitest, which uses the simulator binary in its end-to-end tests.
import { $, cd, path } from 'zx';

const root = path.resolve(import.meta.dirname, '..');
const build = path.join(root, 'build-host');
$.verbose = false;
cd(root);
await $`cmake -S firmware/host -B ${build} -DCMAKE_BUILD_TYPE=RelWithDebInfo`.pipe(process.stderr);
await $`cmake --build ${build} -j 2`.pipe(process.stderr);
await $`ctest --test-dir ${build} --output-on-failure -j 2`.pipe(process.stdout);
