/**
 * A --journal that is not a HIL journal (a README, a split manifest) is the user's file: hil refuses it
 * with "choose another --journal" and leaves it as it is, never telling the user to delete it. A real
 * journal damaged in the middle is still named as damaged.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Journal, JOURNAL_SCHEMA } from '../../host/hil/journal.ts';
import { EXIT } from '../../host/util/exit-codes.ts';
import { tinyDataset, tinyModel } from '../serial/fixtures.ts';

const HEADER = { modelSha256: 'm', manifestSha256: 's', split: 'test' };
const NOT_JOURNAL = /: not a plastisort HIL journal; choose another --journal \(the file was left as it is\)$/;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'plastisort-journal-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function refusal(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  let message = '';
  try {
    Journal.open(path, HEADER);
  } catch (e) {
    message = (e as Error).message;
  }
  expect(readFileSync(path, 'utf8')).toBe(text);
  return message;
}

describe('Journal.open on a file that is not a journal', () => {
  it('a README', () => {
    const m = refusal('README.md', '# My project\n\nNotes about the sorter.\n- more\n');
    expect(m).toMatch(NOT_JOURNAL);
    expect(m).not.toMatch(/delete/);
  });

  it('a pretty-printed split manifest', () => {
    const m = refusal('split.json', JSON.stringify({ schema: 'plastisort.split-manifest/1', items: [1, 2] }, null, 2) + '\n');
    expect(m).toMatch(NOT_JOURNAL);
  });

  it('JSON lines that are not a journal, even with a broken line further down', () => {
    expect(refusal('other.jsonl', '{"a":1}\n{"b":2}\n')).toMatch(NOT_JOURNAL);
    expect(refusal('other2.jsonl', '{"a":1}\nnot json\n{"b":2}\n')).toMatch(NOT_JOURNAL);
  });

  it('a real journal damaged in the middle is named as damaged', () => {
    const header = JSON.stringify({ kind: 'header', schema: JOURNAL_SCHEMA, ...HEADER });
    const m = refusal('journal.jsonl', `${header}\n{"kind":"litert","i":0,"scores":[1]}\ngarbage\n{"kind":"litert","i":1,"scores":[1]}\n`);
    expect(m).toMatch(/journal\.jsonl:3: not a JSON line; the journal is damaged, delete it to start over$/);
  });

  it('a journal whose last line was cut by a crash still opens', () => {
    const header = JSON.stringify({ kind: 'header', schema: JOURNAL_SCHEMA, ...HEADER });
    const path = join(dir, 'cut.jsonl');
    writeFileSync(path, `${header}\n{"kind":"litert","i":0,"scores":[1]}\n{"kind":"lit`);
    expect(Journal.open(path, HEADER).refs('litert').size).toBe(1);
  });
});

describe('plastisort hil --journal README.md', () => {
  it('exits 1 with one line and leaves the file as it is', async () => {
    const proj = join(dir, 'proj');
    await tinyDataset(proj, 1);
    writeFileSync(join(proj, 'model.tflite'), tinyModel(1));
    const readme = '# My project\n\nNotes.\n';
    writeFileSync(join(proj, 'README.md'), readme);
    const r = spawnSync(process.execPath, [resolve('dist/plastisort.js'), 'hil', '--sim', '--model', 'model.tflite', '--manifest', 'split.json', '--out', join(dir, 'h'), '--journal', 'README.md'], {
      cwd: proj, encoding: 'utf8', env: { ...process.env, PLASTISORT_DEBUG: '' },
    });
    expect(r.status, r.stderr).toBe(EXIT.input);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^plastisort: .*README\.md: not a plastisort HIL journal; choose another --journal \(the file was left as it is\)$/);
    expect(readFileSync(join(proj, 'README.md'), 'utf8')).toBe(readme);
  }, 60_000);
});
