import type { FinishReason, PoolingType } from './request.js';

/**
 * One request's share of a step: compute `numTokens` tokens starting at `startPosition`. Prefill,
 * a prefill chunk and decode all take this one shape (decode is numTokens = 1).
 */
export interface ScheduledRequest {
  readonly requestId: string;
  readonly numTokens: number;
  /** position of the first token; the request's K/V for positions below it are in the cache */
  readonly startPosition: number;
  /** [numTokens] the tokens to compute: allTokenIds[startPosition, startPosition + numTokens) */
  readonly tokenIds: readonly number[];
  /** logical block → physical block, covering positions up to startPosition + numTokens */
  readonly blockTable: Int32Array;
  /**
   * After this step every known token of the request is computed, so the runner samples a token
   * from the last row's logits. Always true for decode; false for all but the last prefill chunk.
   */
  readonly isPrefillComplete: boolean;
  /** a pooling request's pooling: the runner returns the hidden rows it needs, and no logits */
  readonly pooling: PoolingType | undefined;
}

export interface SchedulerOutput {
  /** running requests' decode tokens, then their prefill chunks, then requests admitted this step */
  readonly scheduled: readonly ScheduledRequest[];
  /** sum of `numTokens`: at most maxNumBatchedTokens */
  readonly numBatchedTokens: number;
  /** requests that lost their blocks this step; they are waiting again and will be recomputed */
  readonly preempted: readonly string[];
  /** requests finished since the previous step (aborted, stopped, at length): drop their state */
  readonly finished: readonly FinishedRequest[];
}

export interface FinishedRequest {
  readonly requestId: string;
  readonly reason: FinishReason;
}

export interface SchedulerStats {
  readonly numWaiting: number;
  readonly numRunning: number;
  /** fraction of KV blocks in use, 0..1 */
  readonly kvCacheUsage: number;
  /** tokens of admitted requests looked up in the prefix cache */
  readonly numPrefixCacheQueryTokens: number;
  /** of those, tokens found there */
  readonly numPrefixCacheHitTokens: number;
  /** preemptions since the scheduler started */
  readonly numPreemptions: number;
}
