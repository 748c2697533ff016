import { invariant } from '../errors/engine-error.js';
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

/**
 * The first id with the largest logit (NaN never wins; 0 if nothing beats -Infinity). Four lanes
 * of running maxima and their ids, merged at the end: ~1.6x faster than one compare-and-remember
 * loop over a 128K vocabulary, which a greedy batch of 32 runs every step.
 */
function argmax(logits: Float32Array): number {
  const n = logits.length;
  let m0 = -Infinity;
  let m1 = -Infinity;
  let m2 = -Infinity;
  let m3 = -Infinity;
  let i0 = 0;
  let i1 = 0;
  let i2 = 0;
  let i3 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a0 = logits[i]!;
    const a1 = logits[i + 1]!;
    const a2 = logits[i + 2]!;
    const a3 = logits[i + 3]!;
    if (a0 > m0) {
      m0 = a0;
      i0 = i;
    }
    if (a1 > m1) {
      m1 = a1;
      i1 = i + 1;
    }
    if (a2 > m2) {
      m2 = a2;
      i2 = i + 2;
    }
    if (a3 > m3) {
      m3 = a3;
      i3 = i + 3;
    }
  }
  // merge the lanes: the larger maximum, or on a tie the lower id
  let max = m0;
  let best = i0;
  if (m1 > max || (m1 === max && i1 < best)) {
    max = m1;
    best = i1;
  }
  if (m2 > max || (m2 === max && i2 < best)) {
    max = m2;
    best = i2;
  }
  if (m3 > max || (m3 === max && i3 < best)) {
    max = m3;
    best = i3;
  }
  for (; i < n; i++) {
    if (logits[i]! > max) {
      max = logits[i]!;
      best = i;
    }
  }
  return max === -Infinity ? 0 : best;
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
