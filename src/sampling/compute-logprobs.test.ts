import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { computeLogprobs } from './compute-logprobs.js';
import { Sampler } from './sampler.js';

describe('computeLogprobs', () => {
  it('is the log-softmax of the logits, for the chosen token and the top ones', () => {
    const logits = Float32Array.from([1, 3, 2, 3, -Infinity]);
    const logNormalizer = Math.log(Math.exp(1) + 2 * Math.exp(3) + Math.exp(2));
    const result = computeLogprobs(logits, 2, 3);
    expect(result.tokenId).toBe(2);
    expect(result.logprob).toBeCloseTo(2 - logNormalizer, 12);
    expect(result.topLogprobs.map((entry) => entry.tokenId)).toEqual([1, 3, 2]); // ties → lower id first
    expect(result.topLogprobs[0]!.logprob).toBeCloseTo(3 - logNormalizer, 12);
    expect(result.topLogprobs[2]!.logprob).toBe(result.logprob);
    expect(computeLogprobs(logits, 4, 0)).toEqual({ tokenId: 4, logprob: -Infinity, topLogprobs: [] });
  });

  it('gives probabilities that sum to 1 and is stable for large logits', () => {
    const rng = new Rng(4);
    const logits = Float32Array.from({ length: 50 }, () => 1000 + rng.gaussian() * 5);
    const { topLogprobs } = computeLogprobs(logits, 0, 50);
    const total = topLogprobs.reduce((sum, entry) => sum + Math.exp(entry.logprob), 0);
    expect(total).toBeCloseTo(1, 12);
    expect(topLogprobs.every((entry, i) => i === 0 || entry.logprob <= topLogprobs[i - 1]!.logprob)).toBe(true);
  });

  it('reports the raw distribution: penalties and temperature in the sampler do not change it', () => {
    const logits = Float32Array.from([2, 1, 0, -1]);
    const before = computeLogprobs(logits, 0, 2);
    const tokenId = new Sampler({ temperature: 0.3, repetitionPenalty: 2, presencePenalty: 1 }).sample(logits, [0, 1]);
    expect(computeLogprobs(logits, 0, 2)).toEqual(before);
    expect(computeLogprobs(logits, tokenId, 2).logprob).toBe(logits[tokenId]! - (2 - before.logprob));
  });
});
