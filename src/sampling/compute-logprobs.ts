import { invariant } from '../errors/engine-error.js';
import { selectTopK } from './select-top-k.js';

export interface TokenLogprob {
  readonly tokenId: number;
  /** natural log of the token's probability */
  readonly logprob: number;
}

export interface TokenLogprobs extends TokenLogprob {
  /** the numTopLogprobs most likely tokens, most likely first (ties → lower id) */
  readonly topLogprobs: readonly TokenLogprob[];
}

/**
 * Log-probabilities for OpenAI's `logprobs` / `top_logprobs`: log-softmax of `logits` at temperature 1,
 * for the chosen token and for the numTopLogprobs most likely tokens. Pass the model's raw logits
 * (what `Sampler.sample` leaves in the array) to report the model's own distribution, as OpenAI and
 * vLLM (default "raw_logprobs") do: independent of penalties, temperature and truncation.
 */
export function computeLogprobs(
  logits: Float32Array, // [numVocab] f32
  tokenId: number,
  numTopLogprobs: number,
): TokenLogprobs {
  invariant(Number.isInteger(tokenId) && tokenId >= 0 && tokenId < logits.length, `token ${tokenId} is outside the vocab`);
  invariant(Number.isInteger(numTopLogprobs) && numTopLogprobs >= 0, `numTopLogprobs must be an integer ≥ 0`);
  let maxLogit = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > maxLogit) maxLogit = logits[i]!;
  invariant(maxLogit > -Infinity, 'every logit is -Infinity or NaN');
  let totalMass = 0;
  for (let i = 0; i < logits.length; i++) totalMass += Math.exp(logits[i]! - maxLogit);
  const logNormalizer = maxLogit + Math.log(totalMass); // log Σ exp(logit)

  const topIds = numTopLogprobs > 0 ? selectTopK(logits, numTopLogprobs) : new Int32Array(0);
  return {
    tokenId,
    logprob: logits[tokenId]! - logNormalizer,
    topLogprobs: Array.from(topIds, (id) => ({ tokenId: id, logprob: logits[id]! - logNormalizer })),
  };
}
