// `npm run flash -- …` hands its arguments to `plastisort flash` through scripts/flash.mjs.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

function npmRunFlash(...args: string[]) {
  return npmRunFlashWithPath('/usr/bin:/bin', ...args);
}

// As npm runs it: the script path relative to the checkout; PATH decides whether idf.py is found.
function npmRunFlashWithPath(path: string, ...args: string[]) {
  return spawnSync(process.execPath, [resolve(root, 'node_modules/zx/build/cli.js'), 'scripts/flash.mjs', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PATH: path },
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

  // A stand-in idf.py that records its arguments: set-target would regenerate sdkconfig and lose
  // every menuconfig choice, so it runs only while the project has no ESP32-S3 configuration.
  const sdkconfig = join(root, 'firmware', 'sdkconfig');
  it.skipIf(existsSync(sdkconfig))('runs idf.py set-target only when firmware/sdkconfig is not for the ESP32-S3', () => {
    const bin = mkdtempSync(join(tmpdir(), 'plastisort-idf-'));
    const calls = join(bin, 'calls.txt');
    writeFileSync(join(bin, 'idf.py'), `#!/bin/sh\necho "$*" >> ${calls}\n`);
    chmodSync(join(bin, 'idf.py'), 0o755);
    const path = `${bin}:/usr/bin:/bin`;
    try {
      expect(npmRunFlashWithPath(path, '--help').status).toBe(0);
      expect(readFileSync(calls, 'utf8').split('\n').filter(Boolean)).toEqual(['set-target esp32s3', 'build']);
      writeFileSync(sdkconfig, 'CONFIG_IDF_TARGET="esp32s3"\nCONFIG_PLASTISORT_GATE_PINS="14,38,39,40"\n');
      rmSync(calls);
      expect(npmRunFlashWithPath(path, '--help').status).toBe(0);
      expect(readFileSync(calls, 'utf8').split('\n').filter(Boolean)).toEqual(['build']);
    } finally {
      rmSync(sdkconfig, { force: true });
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
