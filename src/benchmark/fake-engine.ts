/**
 * Test doubles for `BenchEngine` on a `BenchClock` (normally a `FakeClock`), with known timing:
 * - `FixedDelayEngine`: unlimited parallelism; first token after `prefillMs`, then one token
 *   every `perTokenMs`.
 * - `FifoEngine`: one request at a time in arrival order, same per-request timing, so latency
 *   grows with load (a single-server queue).
 * Both stop at their next step once the signal aborts; a queued FIFO request then never starts.
 */
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
