/**
 * One engine's part of `peregrine bench`: SingleStream, Offline, then the Server rate search, each
 * on an engine the target opens for that scenario (its best configuration for it: one sequence
 * for SingleStream, `maxNumSeqs` for Offline and Server) and closes before the next one opens, so
 * that only one context's memory is held at a time. Every Server trial gets a fresh engine: the
 * trials replay the same requests, and a KV cache left from an earlier trial would serve their
 * prompts from its prefix cache.
 */
import { systemClock, type BenchClock } from './clock.js';
import type { BenchScenario, BenchTarget, EngineConfig, ScenarioEngine } from './bench-target.js';
import { searchMaxRate, type RateSearchResult } from './rate-search.js';
import { runOffline, runServer, runSingleStream, type LatencyConstraints, type ScenarioResult } from './scenario.js';
import { createWorkload, type LengthDistribution } from './workload.js';

export interface ScenarioPlan {
  readonly numSingleStream: number;
  readonly numOffline: number;
  /** each Server trial issues at least this many requests */
  readonly numServer: number;
  readonly maxServerTrials: number;
  /** the rate search's first rate; undefined: the engine's own Offline requests/s (2 significant digits) */
  readonly startRatePerSecond: number | undefined;
  /** stop a Server trial (invalid) once its TTFT p99 is out of reach */
  readonly canStopEarly: boolean;
  /** each Server trial's arrivals span at least this long */
  readonly minServerSeconds: number;
  readonly inputLength: LengthDistribution;
  readonly outputLength: LengthDistribution;
  readonly constraints: LatencyConstraints;
  readonly seed: number;
  readonly vocabSize: number;
  readonly log: (line: string) => void;
  /** a progress display per run (default: none) */
  readonly progress?: (label: string) => ProgressBar;
  readonly clock?: BenchClock;
}

export interface ProgressBar {
  readonly onProgress: (done: number, total: number) => void;
  /** ends a bar left short (a Server trial that stopped early) with `note` */
  end(note: string): void;
}

export interface EngineRun {
  readonly name: string;
  /** SingleStream, Offline and the best valid Server trial (when one passed) */
  readonly results: ScenarioResult[];
  readonly rateSearch: RateSearchResult;
  readonly serverTrials: ScenarioResult[];
  /** the configuration each scenario ran in (Server missing only when no trial ran) */
  readonly configs: Readonly<Partial<Record<BenchScenario, EngineConfig>>>;
}

const NO_PROGRESS: ProgressBar = { onProgress: () => {}, end: () => {} };

/** 2 significant digits, so a start rate reads like 2.0 or 0.75 rather than 2.0408 */
function roundRate(ratePerSecond: number): number {
  return Number(ratePerSecond.toPrecision(2));
}

export async function runScenarios(target: BenchTarget, plan: ScenarioPlan): Promise<EngineRun> {
  const clock = plan.clock ?? systemClock;
  const progress = plan.progress ?? (() => NO_PROGRESS);
  const workload = (numRequests: number, seed: number) =>
    createWorkload({ numRequests, vocabSize: plan.vocabSize, seed, inputLength: plan.inputLength, outputLength: plan.outputLength });
  const configs: Partial<Record<BenchScenario, EngineConfig>> = {};
  /** opens `scenario`'s engine, warms it up, runs `body` on it and closes it */
  const withEngine = async <T>(scenario: BenchScenario, body: (opened: ScenarioEngine) => Promise<T>): Promise<T> => {
    const opened = await target.open(scenario);
    try {
      configs[scenario] ??= opened.config;
      // warm-up: first touch of the weights and of the engine's buffers
      for await (const _ of opened.engine.generate(workload(1, plan.seed + 99)[0]!.promptIds as number[], 2));
      return await body(opened);
    } finally {
      await opened.close();
    }
  };

  plan.log(`${target.name}:`);
  const single = await withEngine('single-stream', ({ engine }) =>
    runSingleStream(engine, workload(plan.numSingleStream, plan.seed), { clock, onProgress: progress('SingleStream').onProgress }),
  );
  const offline = await withEngine('offline', ({ engine }) =>
    runOffline(engine, workload(plan.numOffline, plan.seed + 1), { clock, onProgress: progress('Offline').onProgress }),
  );
  const serverTrials: ScenarioResult[] = [];
  // enough requests for the arrivals to span minServerSeconds, so a burst shorter than the
  // engine's queueing time cannot pass for a sustainable rate
  const serverRequests = (rate: number) => workload(Math.max(plan.numServer, Math.ceil(rate * plan.minServerSeconds)), plan.seed + 2);
  // Offline throughput is where the sustainable rate usually lies within a factor of 2 (above it for
  // a batching engine whose queue stays short, below it when TTFT suffers), so start there. An
  // engine that cannot serve a quarter of that within the limits has no rate worth finding, and
  // trials at lower rates would take longest (numServer / rate seconds).
  const offlineRate = roundRate(offline.requestsPerSecond);
  const startRate = plan.startRatePerSecond ?? (offlineRate > 0 ? offlineRate : 1);
  const rateSearch = await searchMaxRate({
    startRatePerSecond: startRate,
    minRatePerSecond: startRate / 4,
    maxTrials: plan.maxServerTrials,
    relativePrecision: 0.1,
    runTrial: (rate) =>
      withEngine('server', async ({ engine }) => {
        const bar = progress(`Server ${rate.toFixed(2)} req/s`);
        const r = await runServer(engine, serverRequests(rate), {
          clock,
          ratePerSecond: rate,
          seed: plan.seed,
          constraints: plan.constraints,
          canStopEarly: plan.canStopEarly,
          onProgress: bar.onProgress,
        });
        const stop = r.stoppedEarly;
        if (stop) bar.end(`stopped at ${(stop.atMs / 1000).toFixed(1)} s: ${stop.numOverTtftLimit} over TTFT ${plan.constraints.ttftP99Ms} ms`);
        serverTrials.push(r);
        return r;
      }),
  });
  const best = serverTrials.filter((t) => t.isValid).sort((a, b) => b.ratePerSecond! - a.ratePerSecond!)[0];
  return {
    name: target.name,
    results: [single, offline, ...(best ? [best] : [])],
    rateSearch,
    serverTrials,
    configs,
  };
}
