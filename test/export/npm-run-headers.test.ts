// `npm run headers` (scripts/headers.mjs) writes the headers for the model the ESP-IDF build embeds:
// --model, else menuconfig's PLASTISORT_MODEL_FILE, else models/default.tflite; never the array.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTflite } from '../../host/tflite/writer.ts';
import { int8Classifier } from './fixtures.ts';

const repo = resolve(import.meta.dirname, '../..');
let checkout = '';

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function headers(...args: string[]) {
  return spawnSync(process.execPath, [join(repo, 'node_modules/zx/build/cli.js'), join(repo, 'scripts/headers.mjs'), ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, PLASTISORT_HEADERS_ROOT: checkout },
  });
}

function headerSha(): string | undefined {
  return /^\/\/ model sha256: ([0-9a-f]+)$/m.exec(readFileSync(join(checkout, 'firmware/main/model/model_info.h'), 'utf8'))?.[1];
}

beforeAll(() => {
  checkout = mkdtempSync(join(tmpdir(), 'plastisort-headers-'));
  mkdirSync(join(checkout, 'models'));
  mkdirSync(join(checkout, 'firmware/main/model'), { recursive: true });
  writeFileSync(join(checkout, 'models/default.tflite'), writeTflite(int8Classifier({ labels: ['a', 'b', 'c'] })));
  writeFileSync(join(checkout, 'models/v2.tflite'), writeTflite(int8Classifier({ labels: ['a', 'b', 'c'], seed: 9 })));
});
afterAll(() => {
  if (checkout) rmSync(checkout, { recursive: true, force: true });
});

describe('npm run headers', () => {
  it('without a menuconfig, writes the headers of models/default.tflite and no array', () => {
    const r = headers();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/built-in model models\/default\.tflite \(from models\/\)/);
    expect(headerSha()).toBe(sha(join(checkout, 'models/default.tflite')));
    expect(existsSync(join(checkout, 'firmware/main/model/model_data.cc'))).toBe(false);
  });

  it('follows PLASTISORT_MODEL_FILE from firmware/sdkconfig, relative to firmware/', () => {
    writeFileSync(join(checkout, 'firmware/sdkconfig'), 'CONFIG_PLASTISORT_USE_MODEL_PARTITION=y\nCONFIG_PLASTISORT_MODEL_FILE="../models/v2.tflite"\n');
    try {
      const r = headers();
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/built-in model models\/v2\.tflite \(from PLASTISORT_MODEL_FILE in firmware\/sdkconfig\)/);
      expect(headerSha()).toBe(sha(join(checkout, 'models/v2.tflite')));
      expect(headers('--check').status).toBe(0);
    } finally {
      rmSync(join(checkout, 'firmware/sdkconfig'));
    }
    expect(headers('--check').status).toBe(1); // the headers are v2's, the default is default.tflite
  });

  it('names an array left by plastisort export that would override the chosen model', () => {
    const exported = spawnSync(process.execPath, [join(repo, 'dist/plastisort.js'), 'export', 'models/v2.tflite', '--out', 'firmware/main/model'], {
      cwd: checkout,
      encoding: 'utf8',
    });
    expect(exported.status, exported.stderr).toBe(0);
    const r = headers('--model', join(checkout, 'models/default.tflite'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/model_data\.cc \(written by plastisort export\) embeds model [0-9a-f]{12}…, not models\/default\.tflite, and the build uses it first: delete it/);
    rmSync(join(checkout, 'firmware/main/model/model_data.cc'));
    expect(headers('--model', join(checkout, 'models/default.tflite')).status).toBe(0);
  });
});
