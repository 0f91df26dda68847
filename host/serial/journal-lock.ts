import { openSync, readFileSync, rmSync, writeSync, closeSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../util/errors.ts';
import { EXIT } from '../util/exit-codes.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

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
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
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
