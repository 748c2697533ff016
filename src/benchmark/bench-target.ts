/**
 * What `peregrine bench` asks of an engine under test: open itself for one scenario in its best
 * configuration for that scenario, say which configuration that is, and close again.
 */
import type { BenchEngine, ScenarioName } from './scenario.js';

/** the scenarios `peregrine bench` runs, in order */
export const BENCH_SCENARIOS = ['single-stream', 'offline', 'server'] as const satisfies readonly ScenarioName[];
export type BenchScenario = (typeof BENCH_SCENARIOS)[number];

/** how an engine is set up for a scenario; the report prints it beside the results */
export interface EngineConfig {
  /** parallel sequences: Peregrine's maxNumSeqs, the sequences of llama.cpp's context */
  readonly numSequences: number;
  /** tokens of context per sequence */
  readonly contextSize: number;
  /** KV cache capacity over all sequences, tokens */
  readonly numKvTokens: number;
  /** matmul arithmetic in effect: 'exact' is llama.cpp's (8-bit activations for Q8_0/Q4_0/Q4_K), 'bf16' Peregrine's AMX tiles */
  readonly matmulPrecision: string;
  readonly threads: number;
  /** everything else that configures it, e.g. 'flash attention auto, batch 512' */
  readonly details: string;
}

/** an engine set up for one scenario; close it before opening the next */
export interface ScenarioEngine {
  readonly engine: BenchEngine;
  readonly config: EngineConfig;
  close(): Promise<void>;
}

/** an engine under test: a loaded model, opened afresh for each scenario run */
export interface BenchTarget {
  readonly name: string;
  open(scenario: BenchScenario): Promise<ScenarioEngine>;
  dispose(): Promise<void>;
}

/** each engine's best: one sequence for SingleStream (one request at a time), `maxNumSeqs` for Offline and Server */
export function numSequencesFor(scenario: BenchScenario, maxNumSeqs: number): number {
  return scenario === 'single-stream' ? 1 : maxNumSeqs;
}
