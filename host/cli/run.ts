import { InvalidArgumentError } from 'commander';
import { isUserError } from '../util/errors.ts';

/**
 * Wraps a command's action: a UserError becomes one line on stderr and its exit code; anything else
 * is a bug and keeps its stack trace.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void) {
  return async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (e) {
      if (isUserError(e)) {
        process.stderr.write(`plastisort: ${e.message}\n`);
        process.exitCode = e.exitCode;
        return;
      }
      throw e;
    }
  };
}

export function parseIntOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n)) {
      throw new InvalidArgumentError(`${name} must be a whole number, got "${value}"`);
    }
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
