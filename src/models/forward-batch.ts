/**
 * The tokens of one forward pass, several sequences' tokens laid end to end (each sequence's
 * tokens are contiguous rows), with the bookkeeping the runner has already done for them: where
 * each token's K/V goes and which attention calls cover which rows. A model reads it; only the
 * runner (src/runner/build-forward-batch.ts) builds it.
 */
export interface ForwardBatch {
  /** [numTokens] */
  readonly tokenIds: Int32Array;
  /** [numTokens] position of each token in its sequence */
  readonly positions: Int32Array;
  /** [numTokens] the KV cache slot each token's K and V are written to */
  readonly slotIds: Int32Array;
  /** the attention calls that cover every row once, in row order */
  readonly attentionRuns: readonly AttentionRun[];
  /** rows whose logits are wanted, ascending; logits come back in this order */
  readonly logitRows: Int32Array;
  /**
   * rows whose final hidden state (after the output norm, before the LM head) is wanted, for
   * pooling requests, ascending; they come back from CausalLM.hiddenRows() in this order
   */
  readonly hiddenRows: Int32Array;
}

/**
 * Rows [start, start + numTokens) of a batch that one attention call covers: one sequence's
 * tokens (`blockTable`), or a token from each of several sequences, e.g. a decode step
 * (`blockTables`, [numTokens, blockTableStride], row t the block table of row start + t).
 */
export type AttentionRun = { readonly start: number; readonly numTokens: number } & (
  | { readonly blockTable: Int32Array; readonly blockTables?: undefined; readonly blockTableStride?: undefined }
  | { readonly blockTable?: undefined; readonly blockTables: Int32Array; readonly blockTableStride: number }
);
