import { LOG_PROB_RANGE_NATS, referenceLogProb, type ReferenceLogProbs } from './reference-log-probs.js';

const f32 = Math.fround;

/** One scored position: the model's logits against the reference's stored log-probabilities. */
export interface TokenDivergence {
  /** −log q(token) under the model, nats, f32 */
  readonly nll: number;
  /** −log p(token) under the reference (from its 16-bit log-probabilities), nats, f32 */
  readonly nllReference: number;
  /** KL(p ‖ q) over the tokens within 16 nats of the reference's top, nats, as summed (double; llama.cpp's percentiles take it as f32) */
  readonly kld: number;
  /** q(token) − p(token), f32 */
  readonly deltaP: number;
  /** whether the model's top token (first on a tie) is the reference's */
  readonly isSameTop: boolean;
}

/**
 * llama.cpp's per-position comparison (`log_softmax(..., base_log_prob, tok, kld)` in
 * tools/perplexity/perplexity.cpp), with its precision: the model's softmax in float32 with the
 * exponentials summed in double; KL(p ‖ q) = Σ p_i (log p_i − log q_i) summed in double over the
 * reference tokens with log p_i > −16 (p_i from the 16-bit codes), each term a float32 product.
 */
export function compareToken(logits: Float32Array, reference: ReferenceLogProbs, tokenId: number): TokenDivergence {
  const n = logits.length;
  let maxLogit = logits[0]!;
  let top = 0;
  for (let i = 1; i < n; i++) {
    if (logits[i]! > maxLogit) {
      maxLogit = logits[i]!;
      top = i;
    }
  }
  let sumExp = 0; // double
  for (let i = 0; i < n; i++) sumExp += f32(Math.exp(f32(logits[i]! - maxLogit)));
  const logSumExp = f32(Math.log(sumExp));
  const nll = f32(f32(maxLogit + logSumExp) - logits[tokenId]!);
  const nllReference = -referenceLogProb(reference, tokenId);

  const logNormalizer = f32(maxLogit + logSumExp); // log q_i = logits[i] − logNormalizer
  let kld = 0; // double
  let topReference = -1;
  let maxLogProbReference = 0;
  for (let i = 0; i < n; i++) {
    const logP = referenceLogProb(reference, i);
    if (i === 0 || logP > maxLogProbReference) {
      maxLogProbReference = logP;
      topReference = i;
    }
    if (logP > -LOG_PROB_RANGE_NATS) kld += f32(f32(Math.exp(logP)) * f32(f32(logP - logits[i]!) + logNormalizer));
  }
  const deltaP = f32(f32(Math.exp(-nll)) - f32(Math.exp(-nllReference)));
  return { nll, nllReference, kld, deltaP, isSameTop: top === topReference };
}
