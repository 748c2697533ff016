import type { Measurement } from './measurer.js';
import type { PlanConfig } from './plan-config.js';

/** A weight format's accuracy gate (src/eval), as the table reports it. */
export interface GateResult {
  /** the gate's name (`peregrine eval --gate`) */
  readonly name: string;
  readonly isPassed: boolean;
  /** one line: each compared figure against the anchor's */
  readonly summary: string;
}

/** One config of the sweep and what became of it. */
export interface PlanRow {
  readonly config: PlanConfig;
  /** undefined for --model itself: the reference the formats are gated against */
  readonly gate: GateResult | undefined;
  /** undefined when the config was not measured: see `failure` */
  readonly measurement: Measurement | undefined;
  /** why there is no measurement: the format missed its gate, or the config failed to load or run */
  readonly failure: string | undefined;
}

/** Latency bounds on the medians; an absent bound is no bound. */
export interface LatencyBudget {
  readonly maxTtftMs?: number;
  readonly maxTpotMs?: number;
}

/** Whether the row's format may be chosen: the reference, or a format that passed its gate. */
export function isAdmitted(row: PlanRow): boolean {
  return row.gate === undefined || row.gate.isPassed;
}

export function isWithinBudget(m: Measurement, budget: LatencyBudget): boolean {
  return m.ttftMs <= (budget.maxTtftMs ?? Infinity) && m.tpotMs <= (budget.maxTpotMs ?? Infinity);
}

/** "TP=2 PP=1, 1 thread per worker, batch 8, Q4_0, KV f16" */
export function describeConfig(c: PlanConfig): string {
  return `TP=${c.tensorParallel} PP=${c.pipelineParallel}, ${c.threadsPerWorker} thread${c.threadsPerWorker === 1 ? '' : 's'} per worker, batch ${c.maxNumSeqs}, ${c.format}, KV ${c.kvCacheType}`;
}

/** "TTFT ≤ 500 ms, TPOT ≤ 50 ms", or "no latency bound" */
export function describeBudget(budget: LatencyBudget): string {
  const parts = [
    ...(budget.maxTtftMs !== undefined ? [`TTFT <= ${budget.maxTtftMs} ms`] : []),
    ...(budget.maxTpotMs !== undefined ? [`TPOT <= ${budget.maxTpotMs} ms`] : []),
  ];
  return parts.length > 0 ? parts.join(', ') : 'no latency bound';
}
