// Statistics the tests, benchmarks and soak report their figures with.

/**
 * The p-th percentile (0-100) of `values` by nearest rank: the smallest value
 * with at least p % of them at or below it; NaN when there are none.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}
