// `npm run flash -- …` hands its arguments to `plastisort flash` through scripts/flash.mjs.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

function npmRunFlash(...args: string[]) {
  // As npm runs it: the script path relative to the checkout, and no idf.py on PATH.
  return spawnSync(process.execPath, [resolve(root, 'node_modules/zx/build/cli.js'), 'scripts/flash.mjs', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PATH: '/usr/bin:/bin' },
  });
}

describe('npm run flash', () => {
  it('passes only the arguments after the script to plastisort flash', () => {
    const r = npmRunFlash('--help');
    expect(r.stderr).not.toMatch(/too many arguments/);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Usage: plastisort flash/);
  });

  it('passes an option value through unchanged', () => {
    const r = npmRunFlash('--port', '/dev/plastisort-no-such-port', '--bundle', '/nonexistent-bundle');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/nonexistent-bundle|plastisort-no-such-port/);
    expect(r.stderr).not.toMatch(/too many arguments/);
  });
});
