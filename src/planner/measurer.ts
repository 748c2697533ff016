import type { PlanConfig } from './plan-config.js';

/** What one config did in a short measured run. */
export interface Measurement {
  /** time to first token, median over the run's requests (ms) */
  readonly ttftMs: number;
  /** time per output token after the first, median over the run's requests (ms) */
  readonly tpotMs: number;
  /** output tokens of all requests ÷ the run's wall time */
  readonly tokensPerSecond: number;
}

/**
 * Runs configs and reports their latency and throughput. The planner calls `measure` once per
 * config, in the order of the candidate space (batch sizes innermost, so that a measurer may keep
 * a loaded model between them); a config that cannot run rejects, and the planner records why.
 */
export interface Measurer {
  measure(config: PlanConfig): Promise<Measurement>;
  /** frees what the measurer still holds (a loaded model); twice is harmless */
  close(): Promise<void>;
}
