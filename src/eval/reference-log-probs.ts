const f32 = Math.fround;

/** How far below the most likely token llama.cpp keeps a log-probability, in nats (lower ones are stored as the floor). */
export const LOG_PROB_RANGE_NATS = 16;

/**
 * The reference model's log-probabilities at one position, stored as llama.cpp's
 * `llama-perplexity --kl-divergence-base` stores them in its logits file: 16 bits per token,
 * `log p_i = scale * codes[i] + minLogProb`, over the top 16 nats (a token more than 16 nats
 * below the maximum logit gets code 0, the floor). `--kl-divergence` then computes every statistic
 * from these codes, not from the reference's float logits; so does `peregrine eval`, so that its
 * figures are llama.cpp's (the step is at most 16/65535 ≈ 2.4e-4 nats).
 */
export interface ReferenceLogProbs {
  /** nats per code step: (max logit − floor logit) / 65535, f32; 0 when every logit is equal */
  readonly scale: number;
  /** the log-probability of code 0, f32 */
  readonly minLogProb: number;
  /** [vocabSize] u16 */
  readonly codes: Uint16Array;
}

/** llama.cpp's `log_softmax` that writes the logits file (perplexity.cpp), in its float32 and double steps. */
export function quantizeReferenceLogProbs(logits: Float32Array): ReferenceLogProbs {
  const n = logits.length;
  let maxLogit = logits[0]!;
  let minLogit = logits[0]!;
  for (let i = 1; i < n; i++) {
    maxLogit = Math.max(maxLogit, logits[i]!);
    minLogit = Math.min(minLogit, logits[i]!);
  }
  minLogit = Math.max(minLogit, f32(maxLogit - LOG_PROB_RANGE_NATS));
  let sumExp = 0; // double, as llama.cpp sums it
  for (let i = 0; i < n; i++) sumExp += f32(Math.exp(f32(logits[i]! - maxLogit)));
  const logSumExp = f32(Math.log(sumExp));
  const minLogProb = f32(f32(minLogit - maxLogit) - logSumExp);
  const scale = f32(f32(maxLogit - minLogit) / 65535);
  const codes = new Uint16Array(n); // a code past 65535 would wrap, as llama.cpp's uint16_t store does
  if (scale !== 0) {
    const invScale = f32(1 / scale);
    for (let i = 0; i < n; i++) codes[i] = logits[i]! > minLogit ? nearestInt(f32(invScale * f32(logits[i]! - minLogit))) : 0;
  }
  return { scale, minLogProb, codes };
}

/** The stored log-probability of token `id`, f32, as llama.cpp reads it back. */
export function referenceLogProb(ref: ReferenceLogProbs, id: number): number {
  return f32(f32(ref.scale * ref.codes[id]!) + ref.minLogProb);
}

/** Round to nearest, ties to even, of a float32 value below 2^22 in magnitude (ggml's nearest_int). */
export function nearestInt(x: number): number {
  const MAGIC = 12582912; // 1.5 * 2^23: adding it leaves a float32 with an ulp of 1
  return f32(x + MAGIC) - MAGIC;
}
