import { InvalidArgumentError } from 'commander';
import { isUserError } from '../util/errors.ts';
import { EXIT } from '../util/exit-codes.ts';

const ERRNO_FIX: Record<string, string> = {
  ENOENT: 'not found; check the path',
  EISDIR: 'is a folder where a file is expected; give a file',
  ENOTDIR: 'part of the path is a file where a folder is expected; check the path',
  EACCES: 'permission denied; choose a path you may read and write',
  EPERM: 'operation not permitted; choose a path you may read and write',
  ELOOP: 'symbolic link loop; fix or remove the link',
  ENOSPC: 'no space left on the device; free some space and rerun',
  EROFS: 'read-only file system; choose a writable folder',
  ENAMETOOLONG: 'path too long; choose a shorter one',
  EEXIST: 'already exists; choose another path',
  ENOTEMPTY: 'folder not empty; choose another path',
};

/**
 * The one line a failure prints and its exit code. A UserError says what to do; a file-system error
 * names its path and the fix; anything else is a bug, reported in one line (the stack trace with
 * PLASTISORT_DEBUG=1).
 */
export function describeFailure(e: unknown): { line: string; exitCode: number } {
  if (isUserError(e)) return { line: e.message, exitCode: e.exitCode };
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string' && ERRNO_FIX[err.code]) {
    const where = err.path ?? (err as { dest?: string }).dest ?? '';
    return { line: `${where ? `${where}: ` : ''}${ERRNO_FIX[err.code]} (${err.code})`, exitCode: EXIT.input };
  }
  const msg = (err && typeof err.message === 'string' ? err.message : String(e)).split('\n')[0];
  return {
    line: `internal error: ${msg} (a bug in plastisort; rerun with PLASTISORT_DEBUG=1 for the stack trace and report it)`,
    exitCode: EXIT.internal,
  };
}

/**
 * A message as one printable line: a binary file's bytes quoted in a parser's message (a PNG given as
 * a manifest) would otherwise break it over lines or move the terminal's cursor.
 */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return ' ';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

export function reportFailure(e: unknown): void {
  const { line, exitCode } = describeFailure(e);
  process.stderr.write(`plastisort: ${oneLine(line)}\n`);
  if (process.env.PLASTISORT_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  process.exitCode = exitCode;
}

/** Wraps a command's action: any failure becomes one line on stderr and its exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void) {
  return async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (e) {
      reportFailure(e);
    }
  };
}

export function parseIntOption(name: string, min?: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n)) {
      throw new InvalidArgumentError(`${name} must be a whole number, got "${value}"`);
    }
    if (min !== undefined && n < min) throw new InvalidArgumentError(`${name} must be ${min} or more, got ${n}`);
    return n;
  };
}

/** A whole number of calibration images, or `all` (the whole training split). */
export function parseCalibOption(name: string) {
  return (value: string): number | 'all' => {
    if (value.trim().toLowerCase() === 'all') return 'all';
    const n = Number(value);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number or all, got "${value}"`);
    return n;
  };
}

export function parseNumberOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${value}"`);
    return n;
  };
}
