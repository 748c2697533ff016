import { describe, expect, it } from 'vitest';
import { offlineArrivalTimesMs, poissonArrivalTimesMs } from './arrivals.js';

describe('poissonArrivalTimesMs', () => {
  const rate = 10; // per second → mean gap 100 ms
  const times = poissonArrivalTimesMs(20_000, rate, 42);
  const gaps = times.map((t, i) => t - (i === 0 ? 0 : times[i - 1]!));
  const meanGap = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  const variance = gaps.reduce((a, g) => a + (g - meanGap) ** 2, 0) / gaps.length;

  it('has the target mean rate', () => {
    expect(meanGap).toBeGreaterThan(98);
    expect(meanGap).toBeLessThan(102);
    expect((times.length / times[times.length - 1]!) * 1000).toBeCloseTo(rate, 0);
  });

  it('has exponential-looking gaps', () => {
    expect(Math.sqrt(variance) / meanGap).toBeGreaterThan(0.97); // coefficient of variation is 1
    expect(Math.sqrt(variance) / meanGap).toBeLessThan(1.03);
    const fractionAboveMean = gaps.filter((g) => g > 100).length / gaps.length;
    expect(fractionAboveMean).toBeCloseTo(Math.exp(-1), 1.5); // P(gap > mean) = 1/e
    expect(gaps.every((g) => g > 0)).toBe(true);
  });

  it('is seeded and scales with 1/rate', () => {
    expect(poissonArrivalTimesMs(100, rate, 42)).toEqual(times.slice(0, 100));
    expect(poissonArrivalTimesMs(100, rate, 43)).not.toEqual(times.slice(0, 100));
    const doubled = poissonArrivalTimesMs(100, 2 * rate, 42);
    doubled.forEach((t, i) => expect(t * 2).toBeCloseTo(times[i]!, 9));
  });

  it('rejects a non-positive rate', () => {
    expect(() => poissonArrivalTimesMs(10, 0)).toThrow(/ratePerSecond/);
  });
});

describe('offlineArrivalTimesMs', () => {
  it('issues everything at t = 0', () => {
    expect(offlineArrivalTimesMs(3)).toEqual([0, 0, 0]);
  });
});
