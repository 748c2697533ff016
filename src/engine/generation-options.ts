import { InvalidRequestError } from '../errors/engine-error.js';
import type { SamplingParams } from '../sampling/sampling-params.js';
import type { TokenLogprobs } from '../sampling/compute-logprobs.js';
import type { ConstraintOptions } from './constraint-options.js';

/**
 * Constraints (ConstraintOptions): `responseFormat` json_object / json_schema, a GBNF `grammar`, or any
 * `constraint` spec; the output is masked token by token to match it, for greedy and sampled requests
 * alike, and ends ('stop') once the match is complete and nothing can extend it. A spec that does not
 * compile throws InvalidRequestError before anything is queued. `logitBias` edits the logits first.
 */
export interface GenerationOptions extends Partial<SamplingParams>, ConstraintOptions {
  /** maximum tokens to generate (default 256) */
  readonly maxTokens?: number;
  /** generation stops before any of these strings; they are not part of the output */
  readonly stop?: readonly string[];
  /** keep generating past end-of-generation tokens (default false) */
  readonly ignoreEos?: boolean;
  /** add BOS/EOS as the model's metadata says (default true) */
  readonly addSpecial?: boolean;
  /** recognise special-token text such as "<|eot_id|>" in the prompt (default false) */
  readonly parseSpecial?: boolean;
  readonly signal?: AbortSignal;
  /** return the sampled token's log-probability and this many top alternatives per token (0..20) */
  readonly logprobs?: number;
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface GenerationChunk {
  /** new text since the previous chunk (may be empty while bytes or a possible stop string are held back) */
  readonly text: string;
  /** token ids sampled since the previous chunk */
  readonly tokenIds: readonly number[];
  /** set on the last chunk */
  readonly finishReason?: FinishReason;
  readonly usage?: { readonly promptTokens: number; readonly completionTokens: number };
  /** one entry per id in tokenIds, when options.logprobs was set */
  readonly logprobs?: readonly TokenLogprobs[];
  /** set on the last chunk: where the request's time went, in the engine */
  readonly timings?: GenerationTimings;
}

/** A finished request's phases in the engine, in ms (vLLM's queue, prefill and decode times). */
export interface GenerationTimings {
  /** from generate() to its first scheduled step (the whole life of a request aborted while waiting) */
  readonly queueMs: number;
  /** from its first scheduled step to its first token */
  readonly prefillMs: number;
  /** from its first token to its end */
  readonly decodeMs: number;
}

export function validateGenerationOptions(o: GenerationOptions): void {
  if (o.maxTokens !== undefined && (!Number.isInteger(o.maxTokens) || o.maxTokens < 0)) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `maxTokens must be a non-negative integer (got ${o.maxTokens})`);
  }
  if (o.logprobs !== undefined && (!Number.isInteger(o.logprobs) || o.logprobs < 0 || o.logprobs > 20)) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `logprobs must be an integer in 0..20 (got ${o.logprobs})`);
  }
  if (o.stop !== undefined && (!Array.isArray(o.stop) || o.stop.some((s) => typeof s !== 'string' || s.length === 0))) {
    throw new InvalidRequestError('INVALID_ARGUMENT', 'stop must be an array of non-empty strings');
  }
}
