import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeStaleTemps, writeDirAtomic } from '../../host/util/atomic.ts';
import { guardOutDir, guardOutFile, OUTPUT_MARKER } from '../../host/util/out-dir.ts';
import { UserError } from '../../host/util/errors.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'plastisort-outdir-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const synth = { command: 'data synth' };

describe('guardOutDir', () => {
  it('accepts a new, an empty or its own folder and refuses the user\'s, another command\'s, ., .. and inputs', () => {
    mkdirSync(join(dir, 'empty'));
    mkdirSync(join(dir, 'mine'));
    writeFileSync(join(dir, 'mine', OUTPUT_MARKER), JSON.stringify({ writtenBy: 'data synth' }));
    mkdirSync(join(dir, 'theirs'));
    writeFileSync(join(dir, 'theirs', OUTPUT_MARKER), JSON.stringify({ writtenBy: 'train' }));
    mkdirSync(join(dir, 'photos', 'cup'), { recursive: true });
    writeFileSync(join(dir, 'photos', 'cup', 'a.jpg'), 'x');
    for (const ok of ['new', 'empty', 'mine', 'new/deeper']) expect(() => guardOutDir(join(dir, ok), synth)).not.toThrow();
    expect(() => guardOutDir(join(dir, 'photos'), synth)).toThrow(/holds files plastisort did not write/);
    expect(() => guardOutDir(join(dir, 'theirs'), synth)).toThrow(/holds output of plastisort train/);
    expect(() => guardOutDir('.', synth)).toThrow(/current folder/);
    expect(() => guardOutDir('..', synth)).toThrow(/current folder/);
    expect(() => guardOutDir('', synth)).toThrow(/is empty/);
    const withInput = { ...synth, inputs: [join(dir, 'photos')] };
    expect(() => guardOutDir(join(dir, 'photos', 'out'), withInput)).toThrow(/lies inside the input/);
    expect(() => guardOutDir(dir, withInput)).toThrow(/contains the input/);
    writeFileSync(join(dir, 'file'), 'x');
    expect(() => guardOutDir(join(dir, 'file'), synth)).toThrow(/is a file; name a folder/);
    expect(() => guardOutDir(join(dir, 'file', 'below'), synth)).toThrow(/is a file, not a folder/);
    try {
      guardOutDir(join(dir, 'photos'), synth);
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
    }
  });

  it('recognises an output from before markers by its legacy signature', () => {
    mkdirSync(join(dir, 'old'));
    writeFileSync(join(dir, 'old', 'synth.json'), '{}');
    expect(() => guardOutDir(join(dir, 'old'), synth)).toThrow(/did not write/);
    expect(() => guardOutDir(join(dir, 'old'), { ...synth, legacy: (d) => existsSync(join(d, 'synth.json')) })).not.toThrow();
  });
});

describe('guardOutFile', () => {
  it('replaces only a file the command recognises as its own', () => {
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    writeFileSync(join(dir, 'split.json'), '{"schema":"x"}');
    const g = { command: 'data split', isOwn: (p: string) => readFileSync(p, 'utf8').includes('schema') };
    expect(() => guardOutFile(join(dir, 'notes.txt'), g)).toThrow(/did not write it/);
    expect(() => guardOutFile(join(dir, 'split.json'), g)).not.toThrow();
    expect(() => guardOutFile(dir, g)).toThrow(/is a folder; give a file name/);
    expect(() => guardOutFile(join(dir, 'new.json'), g)).not.toThrow();
  });
});

describe('writeDirAtomic with an owner', () => {
  it('marks what it writes, replaces its own folder and refuses, at the moment of replacing, a folder that is not', async () => {
    const out = join(dir, 'out');
    await writeDirAtomic(out, async (tmp) => writeFileSync(join(tmp, 'a'), '1'), synth);
    expect(JSON.parse(readFileSync(join(out, OUTPUT_MARKER), 'utf8')).writtenBy).toBe('data synth');
    await writeDirAtomic(out, async (tmp) => writeFileSync(join(tmp, 'b'), '2'), synth);
    expect(existsSync(join(out, 'a'))).toBe(false);
    expect(readFileSync(join(out, 'b'), 'utf8')).toBe('2');
    // The user's folder appears between the caller's check and the rename: still refused, nothing lost.
    const theirs = join(dir, 'theirs');
    await expect(
      writeDirAtomic(theirs, async (tmp) => {
        mkdirSync(theirs);
        writeFileSync(join(theirs, 'precious'), 'x');
        writeFileSync(join(tmp, 'a'), '1');
      }, synth),
    ).rejects.toThrow(/did not write/);
    expect(readFileSync(join(theirs, 'precious'), 'utf8')).toBe('x');
  });

  it('removes the temporary folder of a killed run (its process gone) and keeps a live one\'s', async () => {
    const dead = join(dir, '.out.999999.0123abcd.tmp');
    const live = join(dir, `.out.${process.pid}.89abcdef.tmp`);
    mkdirSync(dead);
    mkdirSync(live);
    writeFileSync(join(dead, 'big.png'), 'x');
    expect(await removeStaleTemps(join(dir, 'out'))).toEqual(['.out.999999.0123abcd.tmp']);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });
});
