/**
 * Test doubles for `BenchEngine` on a `BenchClock` (normally a `FakeClock`), with known timing:
 * - `FixedDelayEngine`: unlimited parallelism; first token after `prefillMs`, then one token
 *   every `perTokenMs`.
 * - `FifoEngine`: one request at a time in arrival order, same per-request timing, so latency
 *   grows with load (a single-server queue).
 * Both stop at their next step once the signal aborts; a queued FIFO request then never starts.
 * - `FakeBenchTarget`: a `BenchTarget` opening `FixedDelayEngine`s that decode more slowly the
 *   more sequences they were opened with, as llama.cpp does in a multi-sequence context.
 */
import { numSequencesFor, type BenchScenario, type BenchTarget, type EngineConfig, type ScenarioEngine } from './bench-target.js';
import type { BenchClock } from './clock.js';
import type { BenchEngine } from './scenario.js';

export interface FakeTiming {
  readonly prefillMs: number;
  readonly perTokenMs: number;
}

export class FixedDelayEngine implements BenchEngine {
  constructor(
    private readonly clock: BenchClock,
    private readonly timing: FakeTiming,
  ) {}

  async *generate(_promptIds: number[], maxTokens: number, signal?: AbortSignal): AsyncIterable<{ numTokens: number }> {
    await this.clock.sleep(this.timing.prefillMs);
    if (signal?.aborted) return;
    yield { numTokens: 1 };
    for (let i = 1; i < maxTokens; i++) {
      await this.clock.sleep(this.timing.perTokenMs);
      if (signal?.aborted) return;
      yield { numTokens: 1 };
    }
  }
}

export class FifoEngine implements BenchEngine {
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly clock: BenchClock,
    private readonly timing: FakeTiming,
  ) {}

  async *generate(promptIds: number[], maxTokens: number, signal?: AbortSignal): AsyncIterable<{ numTokens: number }> {
    let release!: () => void;
    const previous = this.tail;
    this.tail = new Promise((resolve) => (release = resolve));
    try {
      await previous;
      if (signal?.aborted) return;
      yield* new FixedDelayEngine(this.clock, this.timing).generate(promptIds, maxTokens, signal);
    } finally {
      release();
    }
  }
}

export interface FakeTargetOptions {
  /** the timing with one sequence */
  readonly timing: FakeTiming;
  /** added to perTokenMs for each sequence beyond the first */
  readonly perExtraSequenceMs: number;
  readonly maxNumSeqs: number;
  readonly contextSize: number;
  readonly threads: number;
}

/**
 * Opens one engine at a time (opening a second while one is open throws, as holding two contexts
 * of a model would be a waste of memory) and records every open: its scenario and configuration.
 */
export class FakeBenchTarget implements BenchTarget {
  /** every open, in order */
  readonly opens: { readonly scenario: BenchScenario; readonly config: EngineConfig }[] = [];
  private isOpen = false;

  constructor(
    readonly name: string,
    private readonly clock: BenchClock,
    private readonly options: FakeTargetOptions,
  ) {}

  /** the per-token time of an engine opened with `numSequences` */
  perTokenMs(numSequences: number): number {
    return this.options.timing.perTokenMs + this.options.perExtraSequenceMs * (numSequences - 1);
  }

  async open(scenario: BenchScenario): Promise<ScenarioEngine> {
    if (this.isOpen) throw new Error(`${this.name}: ${scenario} opened while another engine is open`);
    this.isOpen = true;
    const o = this.options;
    const numSequences = numSequencesFor(scenario, o.maxNumSeqs);
    const config: EngineConfig = {
      numSequences,
      contextSize: o.contextSize,
      numKvTokens: numSequences * o.contextSize,
      matmulPrecision: 'exact',
      threads: o.threads,
      details: 'fake',
    };
    this.opens.push({ scenario, config });
    const engine = new FixedDelayEngine(this.clock, { prefillMs: o.timing.prefillMs, perTokenMs: this.perTokenMs(numSequences) });
    return {
      engine,
      config,
      close: async () => {
        this.isOpen = false;
      },
    };
  }

  async dispose(): Promise<void> {}
}
