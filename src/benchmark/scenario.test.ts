import { describe, expect, it } from 'vitest';
import { poissonArrivalTimesMs } from './arrivals.js';
import { FakeClock } from './clock.js';
import { FifoEngine, FixedDelayEngine } from './fake-engine.js';
import { runConcurrency, runOffline, runServer, runSingleStream, type BenchEngine } from './scenario.js';
import type { BenchRequest } from './workload.js';

const timing = { prefillMs: 50, perTokenMs: 10 };

function requests(numRequests: number, maxTokens: number): BenchRequest[] {
  return Array.from({ length: numRequests }, (_, requestId) => ({ requestId, promptIds: [300, 301, 302], maxTokens }));
}

describe('runSingleStream', () => {
  it('runs one request at a time with exact TTFT and TPOT', async () => {
    const clock = new FakeClock(1000);
    const progress: [number, number][] = [];
    const result = await runSingleStream(new FixedDelayEngine(clock, timing), requests(3, 5), {
      clock,
      onProgress: (numDone, numTotal) => progress.push([numDone, numTotal]),
    });
    expect(result.scenario).toBe('single-stream');
    expect(result.requests.map((r) => r.startMs)).toEqual([0, 90, 180]);
    expect(result.requests.every((r) => r.ttftMs === 50 && r.tpotMs === 10 && r.latencyMs === 90)).toBe(true);
    expect(result.durationMs).toBe(270);
    expect(result.numOutputTokens).toBe(15);
    expect(result.numInputTokens).toBe(9);
    expect(result.outputTokensPerSecond).toBeCloseTo(15 / 0.27, 9);
    expect(result.ttftMs.p99).toBe(50);
    expect(result.tpotMs.mean).toBe(10);
    expect(progress).toEqual([[1, 3], [2, 3], [3, 3]]);
  });
});

describe('runOffline', () => {
  it('issues everything at once and reports total tokens/s', async () => {
    const clock = new FakeClock();
    const result = await runOffline(new FixedDelayEngine(clock, timing), requests(8, 11), { clock });
    expect(result.requests.every((r) => r.startMs === 0 && r.ttftMs === 50 && r.tpotMs === 10)).toBe(true);
    expect(result.durationMs).toBe(150);
    expect(result.outputTokensPerSecond).toBeCloseTo(88 / 0.15, 9);
    expect(result.requestsPerSecond).toBeCloseTo(8 / 0.15, 9);
  });
});

describe('runConcurrency', () => {
  it('keeps at most N requests in flight', async () => {
    const clock = new FakeClock();
    const result = await runConcurrency(new FixedDelayEngine(clock, timing), requests(5, 5), 2, { clock });
    expect(result.requests.map((r) => r.startMs)).toEqual([0, 0, 90, 90, 180]);
    expect(result.durationMs).toBe(270);
    expect(result.maxConcurrency).toBe(2);
  });
});

describe('runServer', () => {
  it('issues at Poisson arrival times and checks the p99 constraints', async () => {
    const clock = new FakeClock();
    const engine = new FixedDelayEngine(clock, timing);
    const result = await runServer(engine, requests(50, 4), { clock, ratePerSecond: 20, seed: 5 });
    const arrivals = poissonArrivalTimesMs(50, 20, 5);
    result.requests.forEach((r, i) => {
      expect(r.startMs).toBe(arrivals[i]);
      expect(r.ttftMs).toBeCloseTo(50, 6);
      expect(r.tpotMs).toBeCloseTo(10, 6);
      expect(r.issueLagMs).toBeCloseTo(0, 6);
    });
    expect(result.isValid).toBe(true);
    expect(result.ratePerSecond).toBe(20);
    expect(result.constraints).toEqual({ ttftP99Ms: 2000, tpotP99Ms: 200 });

    const strict = await runServer(engine, requests(50, 4), { clock, ratePerSecond: 20, constraints: { ttftP99Ms: 40, tpotP99Ms: 200 } });
    expect(strict.isValid).toBe(false);
    const tpotStrict = await runServer(engine, requests(50, 4), { clock, ratePerSecond: 20, constraints: { ttftP99Ms: 100, tpotP99Ms: 9 } });
    expect(tpotStrict.isValid).toBe(false);
  });
});

describe('measurement', () => {
  it('counts multi-token chunks, skips empty ones before the first token, and excludes failures', async () => {
    const clock = new FakeClock();
    let numCalls = 0;
    const engine: BenchEngine = {
      async *generate(_promptIds, maxTokens) {
        if (numCalls++ === 1) throw new Error('boom');
        yield { numTokens: 0 }; // e.g. a prefill-progress chunk
        await clock.sleep(30);
        yield { numTokens: 2 };
        await clock.sleep(40);
        yield { numTokens: maxTokens - 2 };
      },
    };
    const result = await runOffline(engine, requests(3, 6), { clock });
    expect(result.numErrors).toBe(1);
    expect(result.numCompleted).toBe(2);
    expect(result.requests[1]!.errorMessage).toBe('boom');
    const ok = result.requests[0]!;
    expect(ok.ttftMs).toBe(30);
    expect(ok.numOutputTokens).toBe(6);
    expect(ok.tpotMs).toBe(40 / 5);
    expect(ok.latencyMs).toBe(70);
    expect(result.ttftMs.count).toBe(2);
    expect(result.numOutputTokens).toBe(12);
  });

  it('leaves TPOT out for single-token outputs', async () => {
    const clock = new FakeClock();
    const result = await runSingleStream(new FixedDelayEngine(clock, timing), requests(2, 1), { clock });
    expect(result.requests[0]!.tpotMs).toBeNaN();
    expect(result.tpotMs.count).toBe(0);
    expect(result.ttftMs.p50).toBe(50);
  });

  it('marks a Server run with failures invalid', async () => {
    const clock = new FakeClock();
    const engine: BenchEngine = {
      // eslint-disable-next-line require-yield
      async *generate() {
        throw new Error('context full');
      },
    };
    const result = await runServer(engine, requests(2, 4), { clock, ratePerSecond: 1 });
    expect(result.isValid).toBe(false);
    expect(result.numErrors).toBe(2);
  });
});

describe('runServer with canStopEarly', () => {
  // one request at a time, 140 ms each (50 ms prefill + 9 × 10 ms): ~7 req/s is the most it serves
  const fifoTiming = { prefillMs: 50, perTokenMs: 10 };
  const constraints = { ttftP99Ms: 1000, tpotP99Ms: 200 };

  it('stops once more requests are over the TTFT limit than p99 allows, and cancels the rest', async () => {
    const numRequests = 200; // p99 of 200 allows 2 over the limit; the 3rd stops the run
    const fullClock = new FakeClock();
    const full = await runServer(new FifoEngine(fullClock, fifoTiming), requests(numRequests, 10), {
      clock: fullClock,
      ratePerSecond: 10,
      seed: 3,
      constraints,
    });
    expect(full.isValid).toBe(false);
    expect(full.stoppedEarly).toBeUndefined();
    // when the 3rd request crossed the limit (late first token, or still waiting)
    const crossingsMs = full.requests
      .filter((r) => r.ttftMs > constraints.ttftP99Ms)
      .map((r) => r.startMs + constraints.ttftP99Ms)
      .sort((a, b) => a - b);
    const thirdCrossingMs = crossingsMs[2]!;

    const clock = new FakeClock();
    let numTokensAfterStop = 0;
    const fifo = new FifoEngine(clock, fifoTiming);
    const counting: BenchEngine = {
      async *generate(promptIds, maxTokens, signal) {
        for await (const item of fifo.generate(promptIds, maxTokens, signal)) {
          if (signal?.aborted) numTokensAfterStop++;
          yield item;
        }
      },
    };
    const early = await runServer(counting, requests(numRequests, 10), { clock, ratePerSecond: 10, seed: 3, constraints, canStopEarly: true });
    const stop = early.stoppedEarly!;
    expect(early.isValid).toBe(false);
    // noticed at the next token or arrival after the crossing; the engine is never idle that long
    expect(stop.atMs).toBeGreaterThan(thirdCrossingMs);
    expect(stop.atMs).toBeLessThanOrEqual(thirdCrossingMs + fifoTiming.prefillMs);
    expect(stop.numOverTtftLimit).toBe(crossingsMs.filter((t) => t < stop.atMs).length);
    expect(stop.numOverTtftLimit).toBeGreaterThanOrEqual(3);
    // everything issued before the stop matches the full run
    const numIssued = early.requests.length;
    expect(early.requests.map((r) => r.startMs)).toEqual(full.requests.slice(0, numIssued).map((r) => r.startMs));
    expect(stop.numNotIssued).toBe(numRequests - numIssued);
    expect(stop.numNotIssued).toBeGreaterThan(0);
    expect(early.requests.filter((r) => r.isCancelled)).toHaveLength(stop.numCancelled);
    expect(stop.numCancelled).toBeGreaterThan(1); // the one in service and the queue behind it
    expect(early.numCompleted + stop.numCancelled).toBe(numIssued);
    expect(early.numErrors).toBe(0);
    expect(early.numRequests).toBe(numRequests);
    // statistics cover finished requests only
    expect(early.ttftMs.count).toBe(early.numCompleted);
    // cancelled promptly: nothing produced after the stop, the run ends within one engine step
    expect(numTokensAfterStop).toBe(0);
    expect(early.durationMs).toBeLessThanOrEqual(stop.atMs + fifoTiming.prefillMs);
    expect(early.durationMs).toBeLessThan(full.durationMs / 2);
  });

  it('counts requests still waiting for their first token', async () => {
    const clock = new FakeClock();
    let numStarted = 0;
    // never produces a token; ends when cancelled
    const stuck: BenchEngine = {
      // eslint-disable-next-line require-yield
      async *generate(_promptIds, _maxTokens, signal) {
        numStarted++;
        await new Promise((resolve) => signal?.addEventListener('abort', resolve, { once: true }));
      },
    };
    const result = await runServer(stuck, requests(16, 4), {
      clock,
      ratePerSecond: 50,
      seed: 1,
      constraints: { ttftP99Ms: 100, tpotP99Ms: 200 },
      canStopEarly: true,
    });
    const arrivals = poissonArrivalTimesMs(16, 50, 1);
    // p99 of 16 is the max: the first arrival after request 0 has waited 100 ms stops the run
    const firstAfterMs = arrivals.find((t) => t > arrivals[0]! + 100)!;
    expect(result.stoppedEarly).toEqual({ atMs: firstAfterMs, numOverTtftLimit: expect.any(Number), numCancelled: numStarted, numNotIssued: 16 - numStarted });
    expect(result.stoppedEarly!.numOverTtftLimit).toBeGreaterThanOrEqual(1);
    expect(result.isValid).toBe(false);
    expect(result.numCompleted).toBe(0);
    expect(result.requests.every((r) => r.isCancelled && r.errorMessage === undefined)).toBe(true);
  });

  it('changes nothing for a run that meets the constraint', async () => {
    const run = (canStopEarly: boolean) => {
      const clock = new FakeClock();
      return runServer(new FifoEngine(clock, fifoTiming), requests(40, 10), { clock, ratePerSecond: 3, seed: 2, constraints, canStopEarly });
    };
    const [plain, watched] = [await run(false), await run(true)];
    expect(watched.isValid).toBe(true);
    expect(watched.stoppedEarly).toBeUndefined();
    expect(watched).toEqual(plain);
  });
});
