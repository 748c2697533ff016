/**
 * The tokens of one forward pass: several sequences' tokens laid end to end. Each sequence's
 * tokens are contiguous rows [start, start + numTokens).
 */
export interface ForwardBatch {
  /** [numTokens] */
  readonly tokenIds: Int32Array;
  /** [numTokens] position of each token in its sequence */
  readonly positions: Int32Array;
  readonly sequences: readonly BatchSequence[];
  /** rows whose logits are wanted, ascending; logits come back in this order */
  readonly logitRows: Int32Array;
}

export interface BatchSequence {
  readonly start: number;
  readonly numTokens: number;
  /** logical block → physical block in the KV storage */
  readonly blockTable: Int32Array;
}
