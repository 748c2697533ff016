import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { EmbeddingOptions, EmbeddingResult } from './embedding-options.js';
import type { GenerationChunk, GenerationOptions } from './generation-options.js';
import type { Model } from './model.js';
import type { ConstraintCompiler } from '../grammar/token-constraint.js';
import type { SchedulerStats } from '../scheduler/scheduler-output.js';

/** Live counters for /metrics and /health: the scheduler's. */
export type ServingStats = SchedulerStats;

/**
 * What the HTTP server needs from the engine: many concurrent generations, each an async stream
 * of chunks (the same chunks as LoadedModel.generate). Aborting a request (its AbortSignal) frees its KV
 * blocks. Errors are typed: InvalidRequestError (400), CapacityError 'QUEUE_FULL' (429).
 */
export interface ServingEngine {
  readonly model: Model;
  readonly tokenizer: Tokenizer;
  /** tokens of context per request */
  readonly contextSize: number;
  /** compiles response formats and grammars against the model's vocabulary (one per tokenizer, cached per spec) */
  readonly constraints: ConstraintCompiler;
  generate(prompt: string | readonly number[], options?: GenerationOptions): AsyncGenerator<GenerationChunk>;
  /** one pooled, by default L2-normalized, vector per input (see AsyncEngine.embed) */
  embed(inputs: readonly (string | readonly number[])[], options?: EmbeddingOptions): Promise<EmbeddingResult[]>;
  isQueueFull(): boolean;
  /** why the engine can serve no request any more (a step failed), or undefined while it can */
  readonly deadReason: string | undefined;
  stats(): ServingStats;
  /** stops accepting requests, lets running ones finish, then releases native resources */
  shutdown(): Promise<void>;
}
