/**
 * In-place edits of one row of logits before sampling: OpenAI's logit_bias and a constrained-decoding
 * mask. Both run before the sampler's own chain (penalties, temperature, top-k/p), so they apply to
 * greedy and sampled requests alike.
 */

/** OpenAI `logit_bias` in engine form: parallel arrays, ids ascending. */
export interface LogitBias {
  readonly tokenIds: Int32Array;
  /** added to the logit of tokenIds[i]; -100 all but bans a token, 100 all but forces it */
  readonly biases: Float32Array;
}

/** OpenAI's range for a bias: -100 bans a token in practice, 100 makes it near certain. */
export const LOGIT_BIAS_RANGE = { min: -100, max: 100 } as const;

/** Adds each bias to its token's logit. Ids must be < logits.length (validated at the edge). */
export function applyLogitBias(logits: Float32Array, bias: LogitBias): void {
  const { tokenIds, biases } = bias;
  for (let i = 0; i < tokenIds.length; i++) logits[tokenIds[i]!]! += biases[i]!;
}

/**
 * Sets every logit whose bit is clear in `mask` to -Infinity (bit t is mask[t >>> 5] & (1 << (t & 31))).
 * Whole words are skipped when all 32 tokens are allowed and filled when none is, so a mask that
 * allows a few tokens of a 128K vocabulary costs one pass of 4K word tests plus the fill.
 * Returns how many tokens are allowed.
 */
export function applyTokenMask(logits: Float32Array, mask: Uint32Array): number {
  const n = logits.length;
  let numAllowed = 0;
  for (let w = 0; w < mask.length; w++) {
    const word = mask[w]!;
    const start = w << 5;
    const end = Math.min(start + 32, n);
    if (word === 0xffffffff) {
      numAllowed += end - start;
      continue;
    }
    if (word === 0) {
      logits.fill(-Infinity, start, end);
      continue;
    }
    for (let t = start; t < end; t++) {
      if (word & (1 << (t & 31))) numAllowed++;
      else logits[t] = -Infinity;
    }
  }
  return numAllowed;
}
