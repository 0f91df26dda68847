import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { log } from '../util/log.ts';
import { UserError } from '../util/errors.ts';
import { EXIT } from '../util/exit-codes.ts';
import { isProcessRunning } from '../util/children.ts';

/**
 * Holds `JOURNAL.lock` (our pid) while `fn` runs, so a second HIL run on the same journal is refused
 * instead of interleaving its results. A lock whose process is gone (killed run) is taken over.
 */
export async function withJournalLock<T>(journal: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${journal}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
      const pid = Number.parseInt(readFileSync(lock, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isProcessRunning(pid)) {
        throw new UserError(`${journal} is in use by another hil run (process ${pid}); wait for it to finish or stop it, or choose another --journal/--out`, EXIT.busy);
      }
      rmSync(lock, { force: true });
    }
  }
  const release = () => rmSync(lock, { force: true });
  process.once('exit', release);
  try {
    return await fn();
  } finally {
    process.off('exit', release);
    release();
  }
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * A journal belongs to one model, manifest and split. When the default journal was written for
 * another (the model was retrained), it is renamed aside, kept, and the new model starts its own
 * instead of failing every rerun with "journal was written for another modelSha256".
 */
export function retireForeignJournal(journal: string, model: string, manifest: string, split: string): void {
  if (!existsSync(journal) || !existsSync(model) || !existsSync(manifest)) return;
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(readFileSync(journal, 'utf8').split('\n', 1)[0]!) as Record<string, unknown>;
  } catch {
    return; // not a journal: hil itself refuses it with its own message
  }
  if (header.kind !== 'header') return;
  const want = { modelSha256: sha256File(model), manifestSha256: sha256File(manifest), split };
  if (Object.entries(want).every(([k, v]) => header[k] === v)) return;
  const tag = String(header.modelSha256 ?? 'unknown').slice(0, 12);
  let aside = join(dirname(journal), `journal-${tag}.jsonl`);
  for (let n = 2; existsSync(aside); n++) aside = join(dirname(journal), `journal-${tag}-${n}.jsonl`);
  renameSync(journal, aside);
  log.info(`hil: ${journal} belonged to another model or split; kept as ${aside}, starting a new journal`);
}
