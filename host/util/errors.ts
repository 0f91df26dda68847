/**
 * An error caused by the user's input (a path, a flag, a file's content). The CLI prints its message
 * on one line, without a stack trace, and exits with `exitCode`. The message names the bad input and
 * the fix.
 */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
