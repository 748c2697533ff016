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
 * A sparse mask (under half the row allowed, as in most grammar states) saves the allowed logits,
 * fills the whole row with one native fill and puts them back; a dense one (inside a JSON string,
 * say) writes only its disallowed tokens. Either way the writes are at most half the row, and the
 * bit tests one popcount per 32 tokens. Returns how many tokens are allowed. Bits past logits.length must be clear.
 */
export function applyTokenMask(logits: Float32Array, mask: Uint32Array): number {
  const n = logits.length;
  const numWords = Math.min(mask.length, Math.ceil(n / 32));
  let numAllowed = 0;
  for (let w = 0; w < numWords; w++) numAllowed += popcount(mask[w]!);
  if (numAllowed * 2 < n) {
    if (sparseIds.length < numAllowed) {
      sparseIds = new Int32Array(numAllowed);
      sparseValues = new Float32Array(numAllowed);
    }
    let k = 0;
    for (let w = 0; w < numWords; w++) {
      let word = mask[w]!;
      while (word !== 0) {
        const bit = 31 - Math.clz32(word & -word); // lowest set bit
        const t = (w << 5) + bit;
        sparseIds[k] = t;
        sparseValues[k++] = logits[t]!;
        word &= word - 1;
      }
    }
    logits.fill(-Infinity);
    for (let i = 0; i < k; i++) logits[sparseIds[i]!] = sparseValues[i]!;
    return numAllowed;
  }
  for (let w = 0; w < numWords; w++) {
    let cleared = ~mask[w]!; // the disallowed tokens of this word
    const start = w << 5;
    if (w === numWords - 1 && n - start < 32) cleared &= (1 << (n - start)) - 1; // no bits past the row
    while (cleared !== 0) {
      logits[start + 31 - Math.clz32(cleared & -cleared)] = -Infinity;
      cleared &= cleared - 1;
    }
  }
  if (numWords * 32 < n) logits.fill(-Infinity, numWords * 32);
  return numAllowed;
}

/** scratch for the sparse path: the allowed ids and their logits */
let sparseIds = new Int32Array(0);
let sparseValues = new Float32Array(0);

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
