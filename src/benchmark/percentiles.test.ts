import { describe, expect, it } from 'vitest';
import { mean, numAllowedAbove, percentile, summarize } from './percentiles.js';

describe('percentile (nearest rank)', () => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => 100 - i); // unsorted on purpose

  it('returns the value at rank ceil(p/100 · n)', () => {
    expect(percentile(oneToHundred, 50)).toBe(50);
    expect(percentile(oneToHundred, 90)).toBe(90);
    expect(percentile(oneToHundred, 99)).toBe(99);
    expect(percentile(oneToHundred, 99.5)).toBe(100);
    expect(percentile(oneToHundred, 100)).toBe(100);
    expect(percentile(oneToHundred, 0)).toBe(1);
  });

  it('never interpolates on small samples', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 51)).toBe(3);
    expect(percentile([1, 2, 3, 4], 25)).toBe(1);
    expect(percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 1000], 99)).toBe(1000); // p99 of 10 is the max
    expect(percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 1000], 90)).toBe(90);
    expect(percentile([7], 1)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
  });

  it('is NaN for no samples and rejects p outside [0, 100]', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });

  it('sorts numerically, not as strings', () => {
    expect(percentile([9, 10, 100, 2], 100)).toBe(100);
    expect(percentile([9, 10, 100, 2], 25)).toBe(2);
  });
});

describe('summarize', () => {
  it('reports count, mean, extremes and percentiles', () => {
    const s = summarize([4, 1, 3, 2]);
    expect(s).toEqual({ count: 4, mean: 2.5, min: 1, max: 4, p50: 2, p90: 4, p95: 4, p99: 4 });
  });

  it('is all NaN when empty', () => {
    const s = summarize([]);
    expect(s.count).toBe(0);
    expect(s.mean).toBeNaN();
    expect(s.p99).toBeNaN();
    expect(mean([])).toBeNaN();
  });
});

describe('numAllowedAbove', () => {
  it('is n − rank: one more sample above the limit fails the percentile', () => {
    expect(numAllowedAbove(16, 99)).toBe(0); // p99 of 16 is the max
    expect(numAllowedAbove(100, 99)).toBe(1);
    expect(numAllowedAbove(250, 99)).toBe(2);
    expect(numAllowedAbove(10, 50)).toBe(5);
    expect(numAllowedAbove(0, 99)).toBe(0);
    for (const n of [1, 7, 16, 100, 101, 250]) {
      const allowed = numAllowedAbove(n, 99);
      const samples = (numAbove: number) => Array.from({ length: n }, (_, i) => (i < numAbove ? 5000 : 100));
      expect(percentile(samples(allowed), 99), `n=${n}`).toBe(100);
      expect(percentile(samples(allowed + 1), 99), `n=${n}`).toBe(5000);
    }
  });

  it('never grows when samples drop out', () => {
    for (let n = 1; n < 300; n++) expect(numAllowedAbove(n - 1, 99)).toBeLessThanOrEqual(numAllowedAbove(n, 99));
  });
});
