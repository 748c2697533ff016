/**
 * MLPerf-style scenario runners. They drive any engine through `BenchEngine` on an injectable
 * clock and measure, per request: TTFT, TPOT, end-to-end latency and output tokens.
 *
 * - SingleStream: one request at a time (closed loop, concurrency 1).
 * - Offline: every request issued at t = 0; the headline is total output tokens/s.
 * - Server: Poisson arrivals at a target rate; valid when TTFT p99 and TPOT p99 meet the constraints.
 * - Concurrency: closed loop with N requests in flight (the classic serving sweep).
 *
 * Latency is measured from when a request was due: its scheduled arrival (open loop) or the
 * moment a concurrency slot freed (closed loop). Lag in issuing it therefore counts against the
 * engine, as in LoadGen.
 *
 * A Server run may stop early (`canStopEarly`): once more requests are over the TTFT limit than
 * a p99 over all of them allows, the constraint can no longer be met, so the run cancels what is
 * running (through the AbortSignal passed to `generate`), issues nothing more, and is invalid.
 */
import { setMaxListeners } from 'node:events';
import { InvalidRequestError } from '../errors/engine-error.js';
import { offlineArrivalTimesMs, poissonArrivalTimesMs } from './arrivals.js';
import { systemClock, type BenchClock } from './clock.js';
import { numAllowedAbove, summarize, type Summary } from './percentiles.js';
import type { BenchRequest } from './workload.js';

/**
 * Each item counts the tokens produced since the previous one; the first non-empty item is the
 * first token. When `signal` aborts, the stream should end soon (queued work dropped).
 */
export interface BenchEngine {
  generate(promptIds: number[], maxTokens: number, signal?: AbortSignal): AsyncIterable<{ numTokens: number }>;
}

export type ScenarioName = 'single-stream' | 'offline' | 'server' | 'concurrency';

/** MLPerf Inference v4.1 Llama-2-70B Server constraints */
export interface LatencyConstraints {
  readonly ttftP99Ms: number;
  readonly tpotP99Ms: number;
}
export const DEFAULT_CONSTRAINTS: LatencyConstraints = { ttftP99Ms: 2000, tpotP99Ms: 200 };

export interface RequestResult {
  readonly requestId: number;
  readonly numInputTokens: number;
  readonly numOutputTokens: number;
  /** when the request was due, ms from the start of the run */
  readonly startMs: number;
  /** how late it was actually issued (event-loop or client lag) */
  readonly issueLagMs: number;
  /** NaN when no token came back */
  readonly ttftMs: number;
  /** (end − first token) / (numOutputTokens − 1); NaN with fewer than 2 output tokens */
  readonly tpotMs: number;
  readonly latencyMs: number;
  /** set when `generate` threw; the request is left out of every statistic */
  readonly errorMessage?: string;
  /** still running when the run stopped early; left out of every statistic */
  readonly isCancelled?: boolean;
}

/** why and when a run stopped before issuing all its requests */
export interface EarlyStop {
  /** ms from the start of the run */
  readonly atMs: number;
  /** requests whose TTFT was already over the limit (finished or still waiting) */
  readonly numOverTtftLimit: number;
  /** requests running at the stop, then cancelled */
  readonly numCancelled: number;
  readonly numNotIssued: number;
}

export interface ScenarioResult {
  readonly scenario: ScenarioName;
  /** Server only: the target arrival rate */
  readonly ratePerSecond?: number;
  /** Concurrency only: requests in flight */
  readonly maxConcurrency?: number;
  readonly numRequests: number;
  readonly numCompleted: number;
  readonly numErrors: number;
  /** from the start of the run to the last completion */
  readonly durationMs: number;
  readonly numInputTokens: number;
  readonly numOutputTokens: number;
  readonly outputTokensPerSecond: number;
  readonly requestsPerSecond: number;
  readonly ttftMs: Summary;
  readonly tpotMs: Summary;
  readonly latencyMs: Summary;
  /** Server only: constraints checked and the verdict (also false when any request failed) */
  readonly constraints?: LatencyConstraints;
  readonly isValid?: boolean;
  /** set when the run stopped early (Server only); statistics then cover the requests that finished */
  readonly stoppedEarly?: EarlyStop;
  /** the requests issued, in issue order */
  readonly requests: readonly RequestResult[];
}

export interface RunOptions {
  readonly clock?: BenchClock;
  readonly onProgress?: (numDone: number, numTotal: number) => void;
}

export interface LoadPlan {
  /** ascending, one per request, ms from the start of the run */
  readonly arrivalTimesMs: readonly number[];
  /** requests in flight at once; Infinity for open loop */
  readonly maxConcurrency: number;
  /** stop early once a TTFT p99 at or under this many ms is out of reach */
  readonly stopAboveTtftP99Ms?: number;
}

export function runSingleStream(engine: BenchEngine, requests: readonly BenchRequest[], options: RunOptions = {}): Promise<ScenarioResult> {
  return runLoad('single-stream', engine, requests, { arrivalTimesMs: offlineArrivalTimesMs(requests.length), maxConcurrency: 1 }, options);
}

export function runOffline(engine: BenchEngine, requests: readonly BenchRequest[], options: RunOptions = {}): Promise<ScenarioResult> {
  return runLoad('offline', engine, requests, { arrivalTimesMs: offlineArrivalTimesMs(requests.length), maxConcurrency: Infinity }, options);
}

export function runConcurrency(
  engine: BenchEngine,
  requests: readonly BenchRequest[],
  maxConcurrency: number,
  options: RunOptions = {},
): Promise<ScenarioResult> {
  return runLoad('concurrency', engine, requests, { arrivalTimesMs: offlineArrivalTimesMs(requests.length), maxConcurrency }, options);
}

export interface ServerOptions extends RunOptions {
  readonly ratePerSecond: number;
  /** seeds the arrival times (the workload has its own seed) */
  readonly seed?: number;
  readonly constraints?: LatencyConstraints;
  /** stop (invalid) as soon as the TTFT p99 constraint is out of reach (default false) */
  readonly canStopEarly?: boolean;
}

export async function runServer(engine: BenchEngine, requests: readonly BenchRequest[], options: ServerOptions): Promise<ScenarioResult> {
  const constraints = options.constraints ?? DEFAULT_CONSTRAINTS;
  const plan: LoadPlan = {
    arrivalTimesMs: poissonArrivalTimesMs(requests.length, options.ratePerSecond, options.seed ?? 0),
    maxConcurrency: Infinity,
    ...(options.canStopEarly ? { stopAboveTtftP99Ms: constraints.ttftP99Ms } : {}),
  };
  const result = await runLoad('server', engine, requests, plan, options);
  const isValid =
    result.stoppedEarly === undefined &&
    result.numErrors === 0 &&
    result.ttftMs.p99 <= constraints.ttftP99Ms &&
    (result.tpotMs.count === 0 || result.tpotMs.p99 <= constraints.tpotP99Ms);
  return { ...result, ratePerSecond: options.ratePerSecond, constraints, isValid };
}

/** the shared driver: issue each request at its arrival time once a slot is free, measure, summarize */
export async function runLoad(
  scenario: ScenarioName,
  engine: BenchEngine,
  requests: readonly BenchRequest[],
  plan: LoadPlan,
  options: RunOptions = {},
): Promise<ScenarioResult> {
  if (!(plan.maxConcurrency >= 1) || plan.arrivalTimesMs.length !== requests.length) {
    throw new InvalidRequestError('INVALID_ARGUMENT', 'need maxConcurrency ≥ 1 and one arrival time per request');
  }
  const clock = options.clock ?? systemClock;
  const numTotal = requests.length;
  const results: RequestResult[] = [];
  const slots = new Slots(plan.maxConcurrency);
  const inFlight: Promise<void>[] = [];
  let numDone = 0;
  const t0 = clock.now();
  const watch = plan.stopAboveTtftP99Ms === undefined ? undefined : new TtftWatch(plan.stopAboveTtftP99Ms, numAllowedAbove(numTotal, 99));
  const stopped = watch ? new Promise<void>((resolve) => watch.signal.addEventListener('abort', () => resolve(), { once: true })) : undefined;

  for (let i = 0; i < numTotal; i++) {
    await slots.acquire();
    const scheduledMs = plan.arrivalTimesMs[i]!;
    const freedMs = clock.now() - t0;
    if (freedMs < scheduledMs) {
      const due = clock.sleep(scheduledMs - freedMs);
      await (stopped ? Promise.race([due, stopped]) : due);
    }
    if (watch?.check(clock.now() - t0)) {
      slots.release();
      break;
    }
    const startMs = Math.max(scheduledMs, freedMs);
    const request = requests[i]!;
    watch?.onIssue(i, startMs);
    inFlight.push(
      measure(engine, request, clock, t0, startMs, i, watch).then((r) => {
        results[i] = r;
        slots.release();
        options.onProgress?.(++numDone, numTotal);
      }),
    );
  }
  await Promise.all(inFlight);
  const durationMs = clock.now() - t0;
  const issued = results.filter((r) => r !== undefined);
  const summary = summarizeRun(scenario, issued, numTotal, durationMs, plan.maxConcurrency);
  if (!watch?.signal.aborted) return summary;
  const stoppedEarly: EarlyStop = {
    atMs: watch.stopMs,
    numOverTtftLimit: watch.numOverAtStop,
    numCancelled: issued.filter((r) => r.isCancelled).length,
    numNotIssued: numTotal - issued.length,
  };
  return { ...summary, stoppedEarly };
}

/**
 * Watches TTFT during an open-loop run: a request counts as over the limit once its first token
 * came late, or once it has waited longer than the limit without one (its TTFT can only be
 * larger). When more are over than a p99 allows, it aborts the run's signal. It checks whenever a
 * token comes back or a request is due, so a stop is noticed within one engine step.
 */
class TtftWatch {
  private readonly controller = new AbortController();
  /** request index → when it was due, until its first token */
  private readonly waitingStartMs = new Map<number, number>();
  private numLateFirstTokens = 0;
  stopMs = Number.NaN;
  numOverAtStop = 0;

  constructor(
    private readonly limitMs: number,
    private readonly numAllowedOver: number,
  ) {
    setMaxListeners(Infinity, this.controller.signal); // every request in flight listens
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  onIssue(index: number, startMs: number): void {
    this.waitingStartMs.set(index, startMs);
  }

  onFirstToken(index: number, ttftMs: number, nowMs: number): void {
    this.waitingStartMs.delete(index);
    if (ttftMs > this.limitMs) this.numLateFirstTokens++;
    this.check(nowMs);
  }

  /** the request ended (or failed) without a first token */
  onEnd(index: number): void {
    this.waitingStartMs.delete(index);
  }

  /** true once stopped; stops when the p99 is out of reach at `nowMs` */
  check(nowMs: number): boolean {
    if (this.controller.signal.aborted) return true;
    let numOver = this.numLateFirstTokens;
    for (const startMs of this.waitingStartMs.values()) if (nowMs - startMs > this.limitMs) numOver++;
    if (numOver <= this.numAllowedOver) return false;
    this.stopMs = nowMs;
    this.numOverAtStop = numOver;
    this.controller.abort();
    return true;
  }
}

async function measure(
  engine: BenchEngine,
  request: BenchRequest,
  clock: BenchClock,
  t0: number,
  startMs: number,
  index: number,
  watch: TtftWatch | undefined,
): Promise<RequestResult> {
  const issueLagMs = clock.now() - t0 - startMs;
  let firstTokenMs = Number.NaN;
  let numOutputTokens = 0;
  let errorMessage: string | undefined;
  try {
    for await (const item of engine.generate([...request.promptIds], request.maxTokens, watch?.signal)) {
      if (watch?.signal.aborted) break;
      if (item.numTokens <= 0) continue;
      const nowMs = clock.now() - t0;
      if (numOutputTokens === 0) {
        firstTokenMs = nowMs;
        watch?.onFirstToken(index, firstTokenMs - startMs, nowMs);
      } else watch?.check(nowMs);
      numOutputTokens += item.numTokens;
    }
  } catch (error) {
    errorMessage = error instanceof Error ? error.message : String(error);
  }
  watch?.onEnd(index);
  const endMs = clock.now() - t0;
  const result: RequestResult = {
    requestId: request.requestId,
    numInputTokens: request.promptIds.length,
    numOutputTokens,
    startMs,
    issueLagMs,
    ttftMs: firstTokenMs - startMs,
    tpotMs: numOutputTokens >= 2 ? (endMs - firstTokenMs) / (numOutputTokens - 1) : Number.NaN,
    latencyMs: endMs - startMs,
  };
  if (watch?.signal.aborted) return { ...result, isCancelled: true };
  return errorMessage === undefined ? result : { ...result, errorMessage };
}

function summarizeRun(scenario: ScenarioName, requests: RequestResult[], numRequests: number, durationMs: number, maxConcurrency: number): ScenarioResult {
  const ok = requests.filter((r) => r.errorMessage === undefined && !r.isCancelled);
  const numOutputTokens = ok.reduce((sum, r) => sum + r.numOutputTokens, 0);
  const durationS = durationMs / 1000;
  return {
    scenario,
    ...(scenario === 'concurrency' ? { maxConcurrency } : {}),
    numRequests,
    numCompleted: ok.length,
    numErrors: requests.filter((r) => r.errorMessage !== undefined).length,
    durationMs,
    numInputTokens: ok.reduce((sum, r) => sum + r.numInputTokens, 0),
    numOutputTokens,
    outputTokensPerSecond: durationS > 0 ? numOutputTokens / durationS : Number.NaN,
    requestsPerSecond: durationS > 0 ? ok.length / durationS : Number.NaN,
    ttftMs: summarize(ok.map((r) => r.ttftMs).filter(Number.isFinite)),
    tpotMs: summarize(ok.map((r) => r.tpotMs).filter(Number.isFinite)),
    latencyMs: summarize(ok.map((r) => r.latencyMs)),
    requests,
  };
}

/** a counting semaphore; FIFO wake-up */
class Slots {
  private numFree: number;
  private readonly waiters: (() => void)[] = [];

  constructor(numSlots: number) {
    this.numFree = numSlots;
  }

  acquire(): Promise<void> {
    if (this.numFree > 0) {
      this.numFree--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.numFree++;
  }
}
