// Bundles the CLI into dist/plastisort.js. Native and wasm-backed packages stay external so that
// their binaries and .wasm files are resolved from node_modules at run time.
import { build } from 'esbuild';
import { readFileSync, chmodSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const external = [
  ...Object.keys(pkg.dependencies ?? {}),
  ...Object.keys(pkg.optionalDependencies ?? {}),
  ...Object.keys(pkg.devDependencies ?? {}),
];

await build({
  entryPoints: [new URL('../host/cli/index.ts', import.meta.url).pathname],
  outfile: new URL('../dist/plastisort.js', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  external,
  banner: { js: '#!/usr/bin/env node\nimport { createRequire as __plastisortCreateRequire } from "node:module";\nconst require = __plastisortCreateRequire(import.meta.url);' },
  logLevel: 'warning',
});
chmodSync(new URL('../dist/plastisort.js', import.meta.url), 0o755);
