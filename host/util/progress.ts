import cliProgress from 'cli-progress';

export interface Progress {
  tick(n?: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A progress bar with items/s and ETA on an interactive terminal; on a pipe or in CI it prints a
 * line at most every few seconds instead, so logs stay readable.
 */
export function progressBar(label: string, total: number, unit = 'img'): Progress {
  const start = Date.now();
  let done = 0;
  if (process.stderr.isTTY && !process.env.CI) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: '0.0' });
    return {
      tick(n = 1, payload = {}) {
        done += n;
        const rate = done / Math.max(1e-3, (Date.now() - start) / 1000);
        bar.update(done, { rate: rate.toFixed(1), ...payload });
      },
      stop() {
        bar.stop();
      },
    };
  }
  let lastPrint = 0;
  const quiet = process.env.PLASTISORT_QUIET === '1';
  return {
    tick(n = 1) {
      done += n;
      const now = Date.now();
      if (!quiet && (now - lastPrint > 5000 || done === total)) {
        lastPrint = now;
        const rate = done / Math.max(1e-3, (now - start) / 1000);
        process.stderr.write(`${label}: ${done}/${total} ${unit} (${rate.toFixed(1)} ${unit}/s)\n`);
      }
    },
    stop() {},
  };
}
