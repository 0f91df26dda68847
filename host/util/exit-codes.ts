/**
 * The exit codes every plastisort command uses (documented in docs/cli.md). Scripts and CI branch on
 * them, so a code never changes meaning.
 */
export const EXIT = {
  ok: 0,
  /** Bad input: an option, a path, a file's content, a refused --out. One line names the input and the fix. */
  input: 1,
  /** HIL finished without every image answered (journal kept; rerun to resume). */
  incomplete: 3,
  /** Another run holds the lock (a second hil on the same journal). */
  busy: 4,
  /** A bug in plastisort: one line, the stack trace with PLASTISORT_DEBUG=1. */
  internal: 70,
  /** Stopped by Ctrl-C (SIGINT) or SIGTERM: 128 + the signal number, as a shell reports it. */
  sigint: 130,
  sigterm: 143,
} as const;
