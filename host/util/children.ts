import type { ChildProcess } from 'node:child_process';
import { EXIT } from './exit-codes.ts';

/**
 * Child processes (sorter-sim) that must not outlive the command. A signal or exit of ours ends them;
 * for SIGKILL, which no handler sees, sorter-sim notices its parent is gone by itself.
 */
const live = new Set<ChildProcess>();

/** Is process `pid` still there (ours or another user's)? */
export function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function trackChild<C extends ChildProcess>(child: C): C {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export function killChildren(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
}

/**
 * Ctrl-C and SIGTERM end the command with 128 + signal (as a shell reports it) after stopping its
 * children; process 'exit' handlers (lock files) still run. Every artifact is written to a temporary
 * name and renamed, so nothing half-written is left; a rerun resumes or cleans the temporaries.
 */
let rerunNote = 'run the same command again to resume';

/** What the line printed on Ctrl-C says a rerun does, for a command that does not resume where it stopped. */
export function setRerunNote(note: string): void {
  rerunNote = note;
}

export function installSignalHandlers(): void {
  const stop = (signal: 'SIGINT' | 'SIGTERM') => {
    killChildren();
    process.stderr.write(`\nplastisort: stopped by ${signal}; ${rerunNote}\n`);
    process.exit(signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm);
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.on('exit', killChildren);
}
