/**
 * Latency statistics. Percentiles use the nearest-rank definition: the p-th percentile of n
 * samples is the smallest sample such that at least p% of the samples are ≤ it, i.e. the value at
 * 1-based rank ceil(p/100 · n) of the sorted samples (rank 1 for p = 0). It always returns an
 * observed sample, never an interpolation, so "p99 ≤ 2000 ms" means at least 99% of requests
 * met 2000 ms, which is how MLPerf LoadGen states its latency constraints.
 */
export interface Summary {
  readonly count: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  readonly p50: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
}

/** `sorted` must be ascending; NaN when empty */
export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/**
 * How many of `numSamples` samples may exceed a limit while their p-th percentile still meets it:
 * n − rank. With n ≤ numSamples samples the allowance is never larger, so once more than this
 * many are over the limit, the percentile has failed whatever the rest turn out to be.
 */
export function numAllowedAbove(numSamples: number, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  if (numSamples <= 0) return 0;
  return numSamples - Math.max(1, Math.ceil((p / 100) * numSamples));
}

export function percentile(values: readonly number[], p: number): number {
  return percentileOfSorted(sortAscending(values), p);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** every field is NaN (count 0) for an empty input; JSON writes NaN as null */
export function summarize(values: readonly number[]): Summary {
  const sorted = sortAscending(values);
  return {
    count: sorted.length,
    mean: mean(sorted),
    min: sorted.length > 0 ? sorted[0]! : Number.NaN,
    max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
    p50: percentileOfSorted(sorted, 50),
    p90: percentileOfSorted(sorted, 90),
    p95: percentileOfSorted(sorted, 95),
    p99: percentileOfSorted(sorted, 99),
  };
}

function sortAscending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}
