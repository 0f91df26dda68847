import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // tfjs and wasm backends hold large global state; separate processes keep suites independent.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
    // No test downloads the real ImageNet weights or writes to the user's cache (~/.cache/plastisort):
    // the download tests pass their own cache folder and a loopback server explicitly.
    env: { PLASTISORT_OFFLINE: '1', XDG_CACHE_HOME: join(tmpdir(), `plastisort-test-cache-${process.pid}`) },
  },
});
