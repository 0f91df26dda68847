/**
 * train and finetune check --cache-dir before any work: the activation cache (tens of MB of
 * `<hash>/{train,val,test}.f32`) never lands in the photo folder, the manifest, the parent run or a file.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../host/util/exit-codes.ts';
import { errorLines, plastisort, tinyPhotos, tinyRun } from './tiny-project.ts';

let dir: string;

function snapshot(d: string, base = d, out = new Map<string, string>()): Map<string, string> {
  for (const name of readdirSync(d)) {
    const p = join(d, name);
    if (lstatSync(p).isDirectory()) {
      out.set(p.slice(base.length + 1), 'dir');
      snapshot(p, base, out);
    } else out.set(p.slice(base.length + 1), createHash('sha256').update(readFileSync(p)).digest('hex'));
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'plastisort-cache-dir-'));
  tinyPhotos(dir);
  await tinyRun(join(dir, 'run'), join(dir, 'split.json'));
  writeFileSync(join(dir, 'README.md'), '# my project\n');
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const FIX = /; name a folder of its own for the activation cache, e.g\. --cache-dir \.cache\/features \(nothing was written\)$/;
const train = (cache: string) => ['train', '--manifest', 'split.json', '--out', 'newrun', '--backbone', 'nsfwjs', '--input-size', '96', '--epochs', '1', '--views', '1', '--cache-dir', cache];
const finetune = (cache: string) => ['finetune', '--from', 'run', '--out', 'ft', '--epochs', '1', '--views', '1', '--cache-dir', cache];

const CASES: Array<[string, string[], RegExp]> = [
  ['train: the photo folder', train('photos'), /^--cache-dir photos is the input .*photos/],
  ['train: a folder inside the photo folder', train('photos/cache'), /^--cache-dir photos\/cache lies inside the input .*photos/],
  ['train: a file', train('README.md'), /^--cache-dir README\.md is a file/],
  ['train: below a file', train('README.md/cache'), /^--cache-dir README\.md\/cache: .*README\.md is a file, not a folder/],
  ['train: the manifest', train('split.json'), /^--cache-dir split\.json is the input split\.json/],
  ['finetune: inside the run being fine-tuned', finetune('run/cache'), /^--cache-dir run\/cache lies inside the input run/],
  ['finetune: the photo folder of the run\'s manifest', finetune('photos'), /^--cache-dir photos is the input .*photos/],
  ['finetune: a file', finetune('README.md'), /^--cache-dir README\.md is a file/],
];

describe('--cache-dir is checked before any work', () => {
  for (const [name, args, message] of CASES) {
    it(`${name} → exit ${EXIT.input}, one line, nothing written`, () => {
      const before = snapshot(dir);
      const r = plastisort(dir, ...args);
      expect(r.code, r.stderr).toBe(EXIT.input);
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
      expect(lines, r.stderr).toHaveLength(1);
      const [line] = errorLines(r.stderr);
      expect(line!.replace(/^plastisort: /, '')).toMatch(message);
      expect(line).toMatch(FIX);
      expect(snapshot(dir)).toEqual(before);
    }, 30_000);
  }
});
