import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { retireForeignJournal, withJournalLock } from '../../host/hil/journal-lock.ts';
import { EXIT } from '../../host/util/exit-codes.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'plastisort-journal-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('withJournalLock', () => {
  it('refuses a second run while the first holds the lock, and frees it afterwards', async () => {
    const journal = join(dir, 'journal.jsonl');
    await withJournalLock(journal, async () => {
      expect(readFileSync(`${journal}.lock`, 'utf8').trim()).toBe(String(process.pid));
      // Another process holding it: simulated with a live pid that is not ours (our parent).
      writeFileSync(`${journal}.lock`, `${process.ppid}\n`);
      await expect(withJournalLock(journal, async () => undefined)).rejects.toMatchObject({ exitCode: EXIT.busy });
      writeFileSync(`${journal}.lock`, `${process.pid}\n`);
    });
    expect(existsSync(`${journal}.lock`)).toBe(false);
  });

  it('takes over the lock of a run that was killed', async () => {
    const journal = join(dir, 'journal.jsonl');
    writeFileSync(`${journal}.lock`, '999999\n');
    expect(await withJournalLock(journal, async () => 42)).toBe(42);
  });
});

describe('retireForeignJournal', () => {
  it('keeps the journal of another model aside and leaves the current model\'s in place', () => {
    const model = join(dir, 'model.tflite');
    const manifest = join(dir, 'split.json');
    writeFileSync(model, 'new model');
    writeFileSync(manifest, '{}');
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    const journal = join(dir, 'journal.jsonl');
    const header = (modelSha256: string) => JSON.stringify({ kind: 'header', modelSha256, manifestSha256: sha('{}'), split: 'test' }) + '\n';
    writeFileSync(journal, header(sha('new model')));
    retireForeignJournal(journal, model, manifest, 'test');
    expect(readdirSync(dir).sort()).toEqual(['journal.jsonl', 'model.tflite', 'split.json']);
    writeFileSync(journal, header(sha('old model')));
    retireForeignJournal(journal, model, manifest, 'test');
    expect(existsSync(journal)).toBe(false);
    expect(readFileSync(join(dir, `journal-${sha('old model').slice(0, 12)}.jsonl`), 'utf8')).toBe(header(sha('old model')));
  });
});
