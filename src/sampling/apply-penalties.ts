import { invariant } from '../errors/engine-error.js';
import type { SamplingParams } from './sampling-params.js';

export type PenaltyParams = Pick<SamplingParams, 'repetitionPenalty' | 'presencePenalty' | 'frequencyPenalty'>;

/**
 * Penalizes, in place, the logit of every token in `counts` (tokenId → occurrences in the penalty
 * window), as llama.cpp's penalties sampler does:
 * - repetition (CTRL): a positive logit is divided by repetitionPenalty, a negative one multiplied;
 * - then, as OpenAI defines them: logit -= count × frequencyPenalty + (count > 0) × presencePenalty.
 * Tokens not in `counts` are untouched, so this costs O(distinct tokens in the window).
 */
export function applyPenalties(
  logits: Float32Array, // [numVocab] f32, modified in place
  counts: ReadonlyMap<number, number>,
  params: PenaltyParams,
): void {
  const { repetitionPenalty, presencePenalty, frequencyPenalty } = params;
  for (const [tokenId, count] of counts) {
    invariant(
      Number.isInteger(tokenId) && tokenId >= 0 && tokenId < logits.length,
      `history token ${tokenId} is outside the vocab [0, ${logits.length})`,
    );
    if (count <= 0) continue;
    let logit = logits[tokenId]!;
    if (repetitionPenalty !== 1) logit = logit > 0 ? logit / repetitionPenalty : logit * repetitionPenalty;
    logits[tokenId] = logit - (count * frequencyPenalty + presencePenalty);
  }
}
