import { describe, expect, it } from 'vitest';
import { poissonArrivalTimesMs } from './arrivals.js';
import { FakeClock } from './clock.js';
import { FifoEngine } from './fake-engine.js';
import { percentile } from './percentiles.js';
import { searchMaxRate, type TrialOutcome } from './rate-search.js';
import { runServer } from './scenario.js';
import type { BenchRequest } from './workload.js';

/** a pure trial: valid exactly up to `thresholdPerSecond` */
function stepTrial(thresholdPerSecond: number): (rate: number) => Promise<TrialOutcome> {
  return async (rate) => {
    const ttft = rate * 100;
    const stat = { count: 1, mean: ttft, min: ttft, max: ttft, p50: ttft, p90: ttft, p95: ttft, p99: ttft };
    return { ttftMs: stat, tpotMs: { ...stat, p99: 20 }, isValid: rate <= thresholdPerSecond };
  };
}

describe('searchMaxRate', () => {
  it('ramps up, then bisects to the relative precision', async () => {
    const result = await searchMaxRate({ runTrial: stepTrial(7.3), startRatePerSecond: 1, relativePrecision: 0.02, maxTrials: 20 });
    expect(result.trials.slice(0, 4).map((t) => t.ratePerSecond)).toEqual([1, 2, 4, 8]);
    expect(result.trials.slice(0, 4).map((t) => t.isValid)).toEqual([true, true, true, false]);
    expect(result.isConverged).toBe(true);
    const lo = result.bestRatePerSecond!;
    const hi = result.lowestInvalidRatePerSecond!;
    expect(lo).toBeLessThanOrEqual(7.3);
    expect(hi).toBeGreaterThan(7.3);
    expect((hi - lo) / lo).toBeLessThanOrEqual(0.02);
    expect(result.trials[3]).toEqual({ ratePerSecond: 8, ttftP99Ms: 800, tpotP99Ms: 20, isValid: false });
  });

  it('ramps down when the start rate is already too high', async () => {
    const result = await searchMaxRate({ runTrial: stepTrial(0.3), startRatePerSecond: 10, relativePrecision: 0.05 });
    expect(result.trials.slice(0, 4).map((t) => t.ratePerSecond)).toEqual([10, 5, 2.5, 1.25]);
    expect(result.bestRatePerSecond).toBeLessThanOrEqual(0.3);
    expect(result.lowestInvalidRatePerSecond).toBeGreaterThan(0.3);
    expect(result.isConverged).toBe(true);
  });

  it('gives up ramping down below minRatePerSecond', async () => {
    const result = await searchMaxRate({ runTrial: stepTrial(0.3), startRatePerSecond: 8, minRatePerSecond: 2, maxTrials: 10 });
    expect(result.trials.map((t) => t.ratePerSecond)).toEqual([8, 4, 2]);
    expect(result.bestRatePerSecond).toBeNull();
    expect(result.lowestInvalidRatePerSecond).toBe(2);
  });

  it('stops at maxTrials without converging', async () => {
    const seen: number[] = [];
    const result = await searchMaxRate({ runTrial: stepTrial(1e9), maxTrials: 5, onTrial: (t) => seen.push(t.ratePerSecond) });
    expect(result.trials).toHaveLength(5);
    expect(seen).toEqual([1, 2, 4, 8, 16]);
    expect(result.bestRatePerSecond).toBe(16);
    expect(result.lowestInvalidRatePerSecond).toBeNull();
    expect(result.isConverged).toBe(false);
  });

  it('reports no valid rate when nothing passes', async () => {
    const result = await searchMaxRate({ runTrial: stepTrial(-1), maxTrials: 4 });
    expect(result.bestRatePerSecond).toBeNull();
    expect(result.trials.every((t) => !t.isValid)).toBe(true);
  });

  it('finds the saturation point of a single-server engine on fake time', async () => {
    const timing = { prefillMs: 20, perTokenMs: 5 };
    const numRequests = 200;
    const maxTokens = 16;
    const seed = 11;
    const constraints = { ttftP99Ms: 500, tpotP99Ms: 200 };
    const requests: BenchRequest[] = Array.from({ length: numRequests }, (_, requestId) => ({ requestId, promptIds: [300], maxTokens }));

    // the known threshold: a FIFO queue's waiting times (Lindley recursion) over the same arrivals
    const serviceMs = timing.prefillMs + (maxTokens - 1) * timing.perTokenMs;
    const ttftP99 = (rate: number): number => {
      let freeAtMs = 0;
      const ttfts = poissonArrivalTimesMs(numRequests, rate, seed).map((arrivalMs) => {
        const startMs = Math.max(arrivalMs, freeAtMs);
        freeAtMs = startMs + serviceMs;
        return startMs - arrivalMs + timing.prefillMs;
      });
      return percentile(ttfts, 99);
    };
    let lo = 0.01;
    let hi = 1000 / serviceMs; // beyond capacity
    expect(ttftP99(hi)).toBeGreaterThan(constraints.ttftP99Ms);
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (ttftP99(mid) <= constraints.ttftP99Ms) lo = mid;
      else hi = mid;
    }
    const threshold = lo;

    const search = async (canStopEarly: boolean) => {
      let invalidMs = 0; // time spent on trials that failed
      const result = await searchMaxRate({
        startRatePerSecond: 1,
        relativePrecision: 0.05,
        maxTrials: 15,
        runTrial: async (ratePerSecond) => {
          const clock = new FakeClock();
          const r = await runServer(new FifoEngine(clock, timing), requests, { clock, ratePerSecond, seed, constraints, canStopEarly });
          if (!r.isValid) invalidMs += r.durationMs;
          return r;
        },
      });
      return { result, invalidMs };
    };
    const { result, invalidMs } = await search(false);
    expect(result.isConverged).toBe(true);
    expect(result.bestRatePerSecond!).toBeLessThanOrEqual(threshold * (1 + 1e-6));
    expect(result.lowestInvalidRatePerSecond!).toBeGreaterThanOrEqual(threshold * (1 - 1e-6));
    for (const t of result.trials) expect(t.tpotP99Ms).toBeCloseTo(timing.perTokenMs, 6);

    // stopping hopeless trials early takes the same path to the same answer, in less time
    const early = await search(true);
    expect(early.result.trials.map((t) => [t.ratePerSecond, t.isValid])).toEqual(result.trials.map((t) => [t.ratePerSecond, t.isValid]));
    expect(early.result.bestRatePerSecond).toBe(result.bestRatePerSecond);
    expect(early.result.lowestInvalidRatePerSecond).toBe(result.lowestInvalidRatePerSecond);
    expect(early.result.trials.filter((t) => t.isStoppedEarly).length).toBeGreaterThan(0);
    expect(early.result.trials.every((t) => t.isValid === !t.isStoppedEarly)).toBe(true);
    expect(early.invalidMs).toBeLessThan(invalidMs * 0.8);
  });
});
