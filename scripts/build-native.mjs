#!/usr/bin/env zx
// Configures and builds the host side of the firmware (portable core, simulator, unit tests) into
// build-host/. `--target sorter-sim` builds only the simulator, which is all `npm start` needs.
import { $, argv, cd, path, which } from 'zx';

const root = path.resolve(import.meta.dirname, '..');
const build = path.join(root, 'build-host');
$.verbose = false;
cd(root);
for (const tool of ['cmake', 'g++']) {
  if (!(await which(tool, { nothrow: true }))) {
    console.error(`${tool} not found: the simulator and the firmware's portable core build with CMake and a C++17 compiler (Debian: apt-get install cmake g++)`);
    process.exit(1);
  }
}
await $`cmake -S firmware/host -B ${build} -DCMAKE_BUILD_TYPE=RelWithDebInfo`.pipe(process.stderr);
const target = argv.target ? ['--target', String(argv.target)] : [];
await $`cmake --build ${build} -j 2 ${target}`.pipe(process.stderr);
