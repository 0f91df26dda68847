// int8-run --dump DIR writes every operator's output and an index; it makes DIR when it is missing.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeTflite } from '../../host/tflite/writer.ts';
import { int8Classifier } from '../export/fixtures.ts';
import { int8RunPath } from './int8-run.ts';

const hasCmake = (() => {
  try {
    execFileSync('cmake', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const dir = mkdtempSync(join(tmpdir(), 'int8-run-dump-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!hasCmake)('int8-run --dump', () => {
  it('creates a missing dump folder and lists one file per operator output', () => {
    const model = join(dir, 'm.tflite');
    writeFileSync(model, writeTflite(int8Classifier({ residual: true, size: 8 })));
    writeFileSync(join(dir, 'in.bin'), new Uint8Array(8 * 8 * 3).fill(3));
    const dump = join(dir, 'not', 'yet');
    execFileSync(int8RunPath(), [model, join(dir, 'in.bin'), join(dir, 'out.bin'), '--dump', dump], { stdio: ['ignore', 'ignore', 'pipe'] });
    const index = JSON.parse(readFileSync(join(dump, 'index.json'), 'utf8')) as Array<{ file: string; bytes: number }>;
    expect(index.length).toBeGreaterThan(1);
    for (const t of index) expect(readFileSync(join(dump, t.file)).length).toBe(t.bytes);
    expect(existsSync(join(dir, 'out.bin'))).toBe(true);
  });
});
