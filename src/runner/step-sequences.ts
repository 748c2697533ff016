import type { ScheduledRequest } from '../scheduler/scheduler-output.js';
import type { BatchSequence } from './build-forward-batch.js';
import type { PooledRows } from './model-runner.js';
import { poolingRows } from './pooling-rows.js';

/**
 * A step's scheduled requests as the sequences of a forward pass: a request whose prompt is all
 * computed samples from its last row's logits; a pooling request gets hidden rows instead, and
 * never logits. Shared by ModelRunner and ParallelRunner, so both ask for the same rows.
 */
export function stepSequences(scheduled: readonly ScheduledRequest[]): BatchSequence[] {
  return scheduled.map((s) => ({
    tokenIds: s.tokenIds,
    startPosition: s.startPosition,
    blockTable: s.blockTable,
    logitRows: isSampling(s) ? [s.numTokens - 1] : [],
    hiddenRows: s.pooling === undefined ? [] : poolingRows(s.pooling, s),
  }));
}

/** the requests that sample this step, in the order of their logits rows */
export function samplingRequestIds(scheduled: readonly ScheduledRequest[]): string[] {
  return scheduled.filter(isSampling).map((s) => s.requestId);
}

/**
 * Splits `hidden` ([Σ hiddenRows, hiddenSize], the rows of `sequences` in order) among the pooling
 * requests of the step. The views share `hidden`'s memory.
 */
export function pooledRows(
  scheduled: readonly ScheduledRequest[],
  sequences: readonly BatchSequence[],
  hidden: Float32Array,
  hiddenSize: number,
): PooledRows[] {
  const pooled: PooledRows[] = [];
  let row = 0;
  scheduled.forEach((s, i) => {
    if (s.pooling === undefined) return;
    const numRows = sequences[i]!.hiddenRows!.length;
    pooled.push({ requestId: s.requestId, rows: hidden.subarray(row * hiddenSize, (row + numRows) * hiddenSize), numRows });
    row += numRows;
  });
  return pooled;
}

function isSampling(s: ScheduledRequest): boolean {
  return s.isPrefillComplete && s.pooling === undefined;
}
