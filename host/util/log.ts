/** Diagnostics go to stderr so that stdout stays clean for `--json` output and pipes. */
export const log = {
  info(msg: string): void {
    if (process.env.PLASTISORT_QUIET !== '1') process.stderr.write(`${msg}\n`);
  },
  warn(msg: string): void {
    process.stderr.write(`warning: ${msg}\n`);
  },
};
