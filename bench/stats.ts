/** Mean and sample standard deviation (n − 1) of per-seed figures; std 0 for a single value. */
export function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
}

/** Two-sided 97.5% quantiles of Student's t for 1–30 degrees of freedom (beyond: 1.96). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/**
 * Mean, sample std and the 95% t-interval of the mean over per-seed figures (for paired differences:
 * pass the per-seed differences). A single value has no interval (low = high = the value).
 */
export function meanInterval(xs: number[]): { n: number; mean: number; std: number; ci95: [number, number] } {
  const { mean, std } = meanStd(xs);
  const n = xs.length;
  const half = n > 1 ? (T975[n - 2] ?? 1.96) * (std / Math.sqrt(n)) : 0;
  return { n, mean, std, ci95: [mean - half, mean + half] };
}
