/**
 * Time source for the benchmark runners. `systemClock` uses `performance.now()` and timers;
 * `FakeClock` is virtual time for tests: `sleep` registers a timer, and once every pending
 * microtask has run (checked with `setImmediate`) time jumps to the earliest timer.
 */
export interface BenchClock {
  /** milliseconds from an arbitrary origin, monotonic */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: BenchClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

interface Timer {
  readonly atMs: number;
  readonly seq: number;
  readonly resolve: () => void;
}

export class FakeClock implements BenchClock {
  private nowMs: number;
  private timers: Timer[] = [];
  private nextSeq = 0;
  private isAdvanceScheduled = false;

  constructor(startMs = 0) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.timers.push({ atMs: this.nowMs + Math.max(0, ms), seq: this.nextSeq++, resolve });
      this.scheduleAdvance();
    });
  }

  private scheduleAdvance(): void {
    if (this.isAdvanceScheduled) return;
    this.isAdvanceScheduled = true;
    setImmediate(() => {
      this.isAdvanceScheduled = false;
      this.advance();
    });
  }

  /** fire every timer due at the earliest pending time, in the order they were set */
  private advance(): void {
    if (this.timers.length === 0) return;
    this.timers.sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
    const atMs = this.timers[0]!.atMs;
    this.nowMs = Math.max(this.nowMs, atMs);
    const due = this.timers.filter((t) => t.atMs === atMs);
    this.timers = this.timers.filter((t) => t.atMs !== atMs);
    for (const t of due) t.resolve();
    if (this.timers.length > 0) this.scheduleAdvance();
  }
}
