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
  },
});
