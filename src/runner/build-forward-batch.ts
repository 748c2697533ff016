import type { AttentionRun, ForwardBatch } from '../models/forward-batch.js';
import type { HostScratch } from '../models/host-scratch.js';

/** One sequence's share of a forward pass. */
export interface BatchSequence {
  /** [numTokens] */
  readonly tokenIds: readonly number[];
  /** position of tokenIds[0] in the sequence */
  readonly startPosition: number;
  /** logical block → physical block in the KV cache, covering every position computed */
  readonly blockTable: Int32Array;
  /** logits wanted for these rows of the sequence (0-based within it), ascending */
  readonly logitRows: readonly number[];
  /** final hidden states wanted for these rows (pooling), ascending; default none */
  readonly hiddenRows?: readonly number[];
}

/**
 * Lays the sequences' tokens end to end and does the batch's bookkeeping once for every layer:
 * each token's KV slot (in blocks of `blockSize` slots), the attention calls, the rows whose
 * logits are wanted. Block tables of batched decode runs go into `ws`'s host scratch (reused: no
 * allocation per step once it has grown).
 */
export function buildForwardBatch(sequences: readonly BatchSequence[], blockSize: number, ws: HostScratch): ForwardBatch {
  const n = sequences.reduce((sum, s) => sum + s.tokenIds.length, 0);
  const tokenIds = new Int32Array(n); //  [n]
  const positions = new Int32Array(n); // [n]
  const slotIds = new Int32Array(n); //   [n]
  const logitRows: number[] = [];
  const hiddenRows: number[] = [];
  let start = 0;
  for (const s of sequences) {
    tokenIds.set(s.tokenIds, start);
    for (let i = 0; i < s.tokenIds.length; i++) {
      positions[start + i] = s.startPosition + i;
      slotIds[start + i] = slotOf(s.blockTable, s.startPosition + i, blockSize);
    }
    for (const r of s.logitRows) logitRows.push(start + r);
    for (const r of s.hiddenRows ?? []) hiddenRows.push(start + r);
    start += s.tokenIds.length;
  }
  return { tokenIds, positions, slotIds, attentionRuns: attentionRuns(sequences, ws), logitRows: Int32Array.from(logitRows), hiddenRows: Int32Array.from(hiddenRows) };
}

/**
 * The sequences as attention calls: each run of two or more consecutive one-token sequences
 * (decode) as one call with their block tables side by side, every other sequence on its own.
 */
export function attentionRuns(sequences: readonly BatchSequence[], ws: HostScratch): AttentionRun[] {
  const runs: AttentionRun[] = [];
  const starts: number[] = [];
  let row = 0;
  for (const s of sequences) {
    starts.push(row);
    row += s.tokenIds.length;
  }
  for (let i = 0; i < sequences.length; ) {
    let end = i;
    while (end < sequences.length && sequences[end]!.tokenIds.length === 1) end++;
    if (end - i < 2) {
      runs.push({ start: starts[i]!, numTokens: sequences[i]!.tokenIds.length, blockTable: sequences[i]!.blockTable });
      i++;
      continue;
    }
    let stride = 1;
    for (let j = i; j < end; j++) stride = Math.max(stride, sequences[j]!.blockTable.length);
    const tables = ws.getInt(`blockTables${runs.length}`, (end - i) * stride).fill(0); // [end - i, stride]
    for (let j = i; j < end; j++) tables.set(sequences[j]!.blockTable, (j - i) * stride);
    runs.push({ start: starts[i]!, numTokens: end - i, blockTables: tables, blockTableStride: stride });
    i = end;
  }
  return runs;
}

/** the KV slot of logical position `pos` of a sequence with this block table */
function slotOf(blockTable: Int32Array, pos: number, blockSize: number): number {
  return blockTable[Math.floor(pos / blockSize)]! * blockSize + (pos % blockSize);
}
