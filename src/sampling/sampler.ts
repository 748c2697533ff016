import { invariant } from '../errors/engine-error.js';
import { argmax } from '../util/argmax.js';
import { Rng } from '../util/rng.js';
import { applyPenalties } from './apply-penalties.js';
import { PenaltyWindow } from './penalty-window.js';
import { resolveSamplingParams, type SamplingParams, type SamplingParamsInput } from './sampling-params.js';
import { selectTopK } from './select-top-k.js';
import { cutToTopP, selectTopP } from './select-top-p.js';

/**
 * Picks one sequence's next tokens. Create one per sequence: it owns that sequence's RNG (seeded from
 * params.seed) and its penalty window counts.
 *
 * The chain follows llama.cpp's common sampler:
 * 1. penalties (repetition, frequency, presence) on the tokens in the last penaltyLastN of history;
 * 2. temperature 0 → argmax (ties → lowest id), and the RNG is not used;
 * 3. otherwise top-k → top-p → min-p on the penalized logits, then temperature, softmax over the
 *    survivors, and one draw from the RNG.
 * Same seed + same logits and histories → same tokens.
 *
 * Nothing the size of the vocab is copied or sorted: penalties are applied in place to the few
 * penalized tokens and undone before `sample` returns, top-k is a heap selection, top-p sorts only
 * the tokens near the top (see selectTopP), and the final softmax and draw are two passes.
 */
export class Sampler {
  readonly params: Readonly<SamplingParams>;
  private readonly rng: Rng;
  private readonly penaltyWindow: PenaltyWindow;

  /** @throws InvalidRequestError for bad params (they are resolved again, so partial input is fine) */
  constructor(params: SamplingParamsInput = {}) {
    this.params = resolveSamplingParams(params);
    this.rng = new Rng(this.params.seed);
    const { repetitionPenalty, presencePenalty, frequencyPenalty, penaltyLastN } = this.params;
    const hasPenalties = repetitionPenalty !== 1 || presencePenalty !== 0 || frequencyPenalty !== 0;
    this.penaltyWindow = new PenaltyWindow(hasPenalties ? penaltyLastN : 0);
  }

  /** whether `sample` is the plain argmax of the logits (temperature 0, no penalties): a caller may take it from elsewhere */
  get isGreedy(): boolean {
    return this.params.temperature === 0 && !this.penaltyWindow.isCounting;
  }

  /**
   * The next token id.
   * @param logits [numVocab] f32 model output for this sequence's last position. Penalized entries are
   *   modified while sampling and restored before returning, so the caller gets them back unchanged.
   * @param history prompt + generated token ids so far. Must only grow between calls on one Sampler
   *   (it is counted incrementally); every id must be < numVocab.
   */
  sample(logits: Float32Array, history: readonly number[]): number {
    invariant(logits.length > 0, 'logits must not be empty');
    const counts = this.penaltyWindow.sync(history);
    if (counts.size === 0) return this.sampleAfterPenalties(logits);

    const penalizedIds = Array.from(counts.keys());
    const savedLogits = penalizedIds.map((tokenId) => logits[tokenId]!);
    try {
      applyPenalties(logits, counts, this.params);
      return this.sampleAfterPenalties(logits);
    } finally {
      for (let i = 0; i < penalizedIds.length; i++) {
        const tokenId = penalizedIds[i]!;
        if (tokenId >= 0 && tokenId < logits.length) logits[tokenId] = savedLogits[i]!;
      }
    }
  }

  private sampleAfterPenalties(logits: Float32Array): number {
    const { temperature, topK, topP, minP } = this.params;
    if (temperature === 0) return argmax(logits);

    if (topK > 0 && topK < logits.length) {
      let ids = selectTopK(logits, topK); // [topK] best first
      const maxLogit = logits[ids[0]!]!;
      invariant(maxLogit > -Infinity, 'every logit is -Infinity or NaN');
      if (topP < 1) ids = cutToTopP(logits, ids, topP, sumMass(logits, ids, maxLogit), maxLogit);
      if (minP > 0) ids = cutBelow(logits, ids, maxLogit + Math.log(minP));
      return this.drawFromIds(logits, ids, maxLogit);
    }

    const maxLogit = logits[argmax(logits)]!;
    invariant(maxLogit > -Infinity, 'every logit is -Infinity or NaN');
    const minLogit = minP > 0 ? maxLogit + Math.log(minP) : -Infinity;
    if (topP < 1) return this.drawFromIds(logits, selectTopP(logits, maxLogit, topP, minLogit), maxLogit);
    return this.drawFromVocab(logits, maxLogit, minLogit);
  }

  /** softmax(logit / temperature) over `ids`, then one draw */
  private drawFromIds(logits: Float32Array, ids: Int32Array, maxLogit: number): number {
    const { temperature } = this.params;
    let totalWeight = 0;
    for (let i = 0; i < ids.length; i++) totalWeight += Math.exp((logits[ids[i]!]! - maxLogit) / temperature);
    const threshold = this.rng.next() * totalWeight;
    let runningWeight = 0;
    for (let i = 0; i < ids.length; i++) {
      runningWeight += Math.exp((logits[ids[i]!]! - maxLogit) / temperature);
      if (runningWeight > threshold) return ids[i]!;
    }
    return ids[ids.length - 1]!; // unreachable unless rounding: the sums above are identical
  }

  /** softmax(logit / temperature) over every token with logit ≥ minLogit, then one draw */
  private drawFromVocab(logits: Float32Array, maxLogit: number, minLogit: number): number {
    const { temperature } = this.params;
    let totalWeight = 0;
    for (let i = 0; i < logits.length; i++) {
      const logit = logits[i]!;
      if (logit >= minLogit) totalWeight += Math.exp((logit - maxLogit) / temperature);
    }
    const threshold = this.rng.next() * totalWeight;
    let runningWeight = 0;
    let lastId = 0;
    for (let i = 0; i < logits.length; i++) {
      const logit = logits[i]!;
      if (!(logit >= minLogit)) continue;
      runningWeight += Math.exp((logit - maxLogit) / temperature);
      if (runningWeight > threshold) return i;
      lastId = i;
    }
    return lastId;
  }
}

function sumMass(logits: Float32Array, ids: Int32Array, maxLogit: number): number {
  let mass = 0;
  for (let i = 0; i < ids.length; i++) mass += Math.exp(logits[ids[i]!]! - maxLogit);
  return mass;
}

/** the prefix of best-first `ids` with logit ≥ minLogit (never empty: ids[0] has the max logit) */
function cutBelow(logits: Float32Array, ids: Int32Array, minLogit: number): Int32Array {
  let numKeep = 1;
  while (numKeep < ids.length && logits[ids[numKeep]!]! >= minLogit) numKeep++;
  return ids.subarray(0, numKeep);
}
