import { afterEach, describe, expect, it, vi } from 'vitest';
import { Rng } from '../util/rng.js';
import { Sampler } from './sampler.js';
import { resolveSamplingParams, type SamplingParamsInput } from './sampling-params.js';

function randomLogits(seed: number, numVocab: number, scale = 3): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: numVocab }, () => rng.gaussian() * scale);
}

function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

function softmax(logits: readonly number[], temperature = 1): number[] {
  const max = Math.max(...logits);
  const weights = logits.map((logit) => Math.exp((logit - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / total);
}

/** fraction of `numDraws` samples that picked each token */
function frequencies(params: SamplingParamsInput, logits: Float32Array, numDraws: number): number[] {
  const sampler = new Sampler({ seed: 1234, ...params });
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < numDraws; i++) counts[sampler.sample(logits, [])]!++;
  return counts.map((count) => count / numDraws);
}

/** the set of tokens drawn over many samples, from several seeds */
function drawnTokens(params: SamplingParamsInput, logits: Float32Array, numDraws = 2000): number[] {
  const seen = new Set<number>();
  for (const seed of [1, 2, 3, 4]) {
    const sampler = new Sampler({ ...params, seed });
    for (let i = 0; i < numDraws / 4; i++) seen.add(sampler.sample(logits, []));
  }
  return [...seen].sort((a, b) => a - b);
}

/** probabilities 0.5 (id 1), 0.3 (id 3), 0.15 (id 0), 0.05 (id 2), then `numPadding` tokens with ~no mass */
function knownDistribution(numPadding: number): Float32Array {
  const logits = new Float32Array(4 + numPadding).fill(-40);
  logits.set([Math.log(0.15), Math.log(0.5), Math.log(0.05), Math.log(0.3)]);
  return logits;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Sampler: greedy (temperature 0)', () => {
  it('picks the argmax, whatever the seed, without touching the RNG', () => {
    const logitsBySeed = Array.from({ length: 20 }, (_, seed) => randomLogits(seed, 1000));
    const next = vi.spyOn(Rng.prototype, 'next');
    for (let seed = 0; seed < 20; seed++) {
      const logits = logitsBySeed[seed]!;
      expect(new Sampler({ temperature: 0, seed }).sample(logits, [])).toBe(argmax(logits));
      expect(new Sampler({ temperature: 0, seed: seed + 999, topK: 5, topP: 0.5 }).sample(logits, [])).toBe(argmax(logits));
    }
    expect(next).not.toHaveBeenCalled();
  });

  it('finds the maximum in any lane and in the tail, skips NaN, and gives 0 when nothing beats -Infinity', () => {
    const greedy = (values: number[]): number => new Sampler({ temperature: 0 }).sample(Float32Array.from(values), []);
    for (let n = 1; n <= 11; n++) {
      for (let at = 0; at < n; at++) expect(greedy(Array.from({ length: n }, (_, i) => (i === at ? 5 : i * 0.1)))).toBe(at);
    }
    expect(greedy([NaN, 1, NaN, 2, NaN, 2, 0])).toBe(3);
    expect(greedy([NaN, NaN, NaN, NaN, NaN])).toBe(0);
    expect(greedy([-Infinity, -Infinity, -Infinity, -Infinity, -Infinity])).toBe(0);
    expect(greedy([NaN, -Infinity, NaN, NaN, -Infinity])).toBe(0);
    expect(greedy([-3, -2, -7, -2.5, -9, -1.5])).toBe(5);
  });

  it('says when it is a plain argmax (what a caller may compute elsewhere)', () => {
    expect(new Sampler({ temperature: 0 }).isGreedy).toBe(true);
    expect(new Sampler({ temperature: 0, topK: 5, topP: 0.5 }).isGreedy).toBe(true);
    expect(new Sampler({ temperature: 0, repetitionPenalty: 1.1 }).isGreedy).toBe(false);
    expect(new Sampler({ temperature: 0, presencePenalty: 0.5 }).isGreedy).toBe(false);
    expect(new Sampler({ temperature: 0.7 }).isGreedy).toBe(false);
  });

  it('breaks ties toward the lowest id', () => {
    const logits = Float32Array.from([0, 3, 1, 3, 3]);
    expect(new Sampler({ temperature: 0 }).sample(logits, [])).toBe(1);
    expect(new Sampler({ temperature: 0 }).sample(new Float32Array(10), [])).toBe(0);
  });
});

describe('Sampler: top-k', () => {
  it('top-k = 1 equals greedy at any temperature', () => {
    for (const temperature of [0.01, 0.7, 1, 10, 1000]) {
      for (let seed = 0; seed < 20; seed++) {
        const logits = randomLogits(seed, 3000, 0.5);
        const sampler = new Sampler({ topK: 1, temperature, seed });
        for (let i = 0; i < 5; i++) expect(sampler.sample(logits, [])).toBe(argmax(logits));
      }
      const tied = Float32Array.from([1, 5, 2, 5, 5]);
      expect(new Sampler({ topK: 1, temperature }).sample(tied, [])).toBe(1);
    }
  });

  it('draws only from the k best tokens, in proportion to their renormalized softmax', () => {
    const logits = Float32Array.from([1, 3, 0, 2.5, 2.9, -1]);
    const freq = frequencies({ topK: 3 }, logits, 20000);
    const expected = softmax([3, 2.5, 2.9]);
    expect(freq[1]).toBeCloseTo(expected[0]!, 1);
    expect(Math.abs(freq[1]! - expected[0]!)).toBeLessThan(0.015);
    expect(Math.abs(freq[3]! - expected[1]!)).toBeLessThan(0.015);
    expect(Math.abs(freq[4]! - expected[2]!)).toBeLessThan(0.015);
    expect(freq[0]! + freq[2]! + freq[5]!).toBe(0);
  });
});

describe('Sampler: top-p', () => {
  // both code paths: whole vocab (histogram) and after top-k (sorted list)
  const paths: Array<[name: string, logits: Float32Array, extra: SamplingParamsInput]> = [
    ['whole vocab', knownDistribution(1000), {}],
    ['after top-k', knownDistribution(1000), { topK: 100 }],
  ];
  for (const [name, logits, extra] of paths) {
    it(`${name}: keeps the minimal nucleus and nothing else`, () => {
      expect(drawnTokens({ ...extra, topP: 0.4 }, logits)).toEqual([1]);
      expect(drawnTokens({ ...extra, topP: 0.75 }, logits)).toEqual([1, 3]);
      expect(drawnTokens({ ...extra, topP: 0.85 }, logits)).toEqual([0, 1, 3]);
      expect(drawnTokens({ ...extra, topP: 0.85, temperature: 50 }, logits)).toEqual([0, 1, 3]);
      expect(drawnTokens({ ...extra, topP: 0.97 }, logits)).toEqual([0, 1, 2, 3]);
    });

    it(`${name}: renormalizes over the nucleus`, () => {
      const freq = frequencies({ ...extra, topP: 0.75 }, logits, 20000);
      expect(Math.abs(freq[1]! - 0.5 / 0.8)).toBeLessThan(0.015);
      expect(Math.abs(freq[3]! - 0.3 / 0.8)).toBeLessThan(0.015);
    });
  }
});

describe('Sampler: min-p', () => {
  for (const [name, extra] of [['whole vocab', {}], ['after top-k', { topK: 100 }], ['with top-p', { topP: 0.99 }]] as const) {
    it(`${name}: drops tokens below minP × the top probability, before temperature`, () => {
      const logits = knownDistribution(1000);
      expect(drawnTokens({ ...extra, minP: 0.25 }, logits)).toEqual([0, 1, 3]); // ≥ 0.125
      expect(drawnTokens({ ...extra, minP: 0.5 }, logits)).toEqual([1, 3]); // ≥ 0.25
      expect(drawnTokens({ ...extra, minP: 0.5, temperature: 20 }, logits)).toEqual([1, 3]);
      expect(drawnTokens({ ...extra, minP: 0.9 }, logits)).toEqual([1]);
    });
  }
});

describe('Sampler: temperature', () => {
  const logits = Float32Array.from([2, 1, 0.5, 0, -1]);
  for (const temperature of [0.5, 1, 2]) {
    it(`T=${temperature}: empirical frequencies match softmax(logits / T) over 20k draws`, () => {
      const freq = frequencies({ temperature }, logits, 20000);
      const expected = softmax(Array.from(logits), temperature);
      for (let i = 0; i < logits.length; i++) expect(Math.abs(freq[i]! - expected[i]!)).toBeLessThan(0.012);
    });
  }

  it('sharpens below 1 and flattens above 1', () => {
    const topAt = (temperature: number): number => frequencies({ temperature }, logits, 20000)[0]!;
    expect(topAt(0.5)).toBeGreaterThan(topAt(1) + 0.1);
    expect(topAt(2)).toBeLessThan(topAt(1) - 0.1);
  });
});

describe('Sampler: penalties', () => {
  it('divides a positive logit by the repetition penalty', () => {
    const logits = Float32Array.from([3, 2.9, 0]);
    expect(new Sampler({ temperature: 0 }).sample(logits, [0])).toBe(0);
    expect(new Sampler({ temperature: 0, repetitionPenalty: 1.1 }).sample(logits, [0])).toBe(1); // 2.727 < 2.9
    expect(new Sampler({ temperature: 0, repetitionPenalty: 1.01 }).sample(logits, [0])).toBe(0); // 2.970 > 2.9
  });

  it('multiplies a negative logit by the repetition penalty', () => {
    const logits = Float32Array.from([-1, -1.05, -5]);
    // dividing instead would raise token 0 to -0.909 and keep it on top
    expect(new Sampler({ temperature: 0, repetitionPenalty: 1.1 }).sample(logits, [0])).toBe(1);
  });

  it('subtracts the frequency penalty per occurrence and the presence penalty once', () => {
    const logits = Float32Array.from([1, 0.5, 0]);
    const pick = (params: SamplingParamsInput, history: number[]): number =>
      new Sampler({ temperature: 0, ...params }).sample(logits, history);
    expect(pick({ frequencyPenalty: 0.2 }, [0, 0])).toBe(0); // 1 - 0.4 = 0.6
    expect(pick({ frequencyPenalty: 0.2 }, [0, 0, 0])).toBe(1); // 1 - 0.6 = 0.4
    expect(pick({ presencePenalty: 0.4 }, [0, 0, 0, 0, 0])).toBe(0); // 0.6, however often it occurs
    expect(pick({ presencePenalty: 0.6 }, [0])).toBe(1); // 0.4
    expect(pick({ presencePenalty: -1.5 }, [2])).toBe(2); // negative encourages: 0 + 1.5 > 1
  });

  it('looks only at the last penaltyLastN tokens of the history (-1 = all of it)', () => {
    const logits = Float32Array.from([3, 2.9, 0]);
    const history = [0, 2, 2, 2];
    expect(new Sampler({ temperature: 0, repetitionPenalty: 2, penaltyLastN: 3 }).sample(logits, history)).toBe(0);
    expect(new Sampler({ temperature: 0, repetitionPenalty: 2, penaltyLastN: 4 }).sample(logits, history)).toBe(1);
    expect(new Sampler({ temperature: 0, repetitionPenalty: 2, penaltyLastN: -1 }).sample(logits, history)).toBe(1);
    expect(new Sampler({ temperature: 0, repetitionPenalty: 2, penaltyLastN: 0 }).sample(logits, history)).toBe(0);
  });

  it('keeps the window up to date as the history grows', () => {
    const logits = Float32Array.from([3, 2.9, 2.8]);
    const sampler = new Sampler({ temperature: 0, presencePenalty: 1, penaltyLastN: 2 });
    const history: number[] = [];
    for (let i = 0; i < 9; i++) history.push(sampler.sample(logits, history));
    expect(history).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2]);
  });

  it('gives the logits back unchanged, also when sampling throws', () => {
    const logits = randomLogits(3, 500);
    const before = Float32Array.from(logits);
    const history = [5, 5, 7, 499, 0, 123];
    for (const params of [{ temperature: 0 }, { topK: 10 }, { topP: 0.9 }, {}]) {
      new Sampler({ ...params, repetitionPenalty: 1.3, frequencyPenalty: 0.7, presencePenalty: 0.2 }).sample(logits, history);
      expect(logits).toEqual(before);
    }
    expect(() => new Sampler({ repetitionPenalty: 1.3 }).sample(logits, [1, 2, 500])).toThrow(/outside the vocab/);
    expect(logits).toEqual(before);
  });

  it('penalized sampling equals sampling pre-penalized logits', () => {
    const logits = randomLogits(8, 2000, 2);
    const history = [10, 10, 11, 12, 12, 12, argmax(logits)];
    const penalized = Float32Array.from(logits);
    for (const [tokenId, count] of [[10, 2], [11, 1], [12, 3], [argmax(logits), 1]] as const) {
      const logit = penalized[tokenId]!;
      penalized[tokenId] = (logit > 0 ? logit / 1.5 : logit * 1.5) - (count * 0.3 + 0.1);
    }
    const withPenalties = new Sampler({ seed: 9, repetitionPenalty: 1.5, frequencyPenalty: 0.3, presencePenalty: 0.1 });
    const without = new Sampler({ seed: 9 });
    for (let i = 0; i < 200; i++) expect(withPenalties.sample(logits, history)).toBe(without.sample(penalized, history));
  });
});

describe('Sampler: seeds', () => {
  const logits = randomLogits(21, 1000, 1);
  const draw = (params: SamplingParamsInput, numTokens = 300): number[] => {
    const sampler = new Sampler(params);
    return Array.from({ length: numTokens }, () => sampler.sample(logits, []));
  };

  for (const params of [{}, { topK: 50 }, { topP: 0.9 }, { minP: 0.05, temperature: 1.5 }]) {
    it(`same seed → same tokens; different seeds differ (${JSON.stringify(params)})`, () => {
      expect(draw({ ...params, seed: 42 })).toEqual(draw({ ...params, seed: 42 }));
      expect(draw({ ...params, seed: 42 })).not.toEqual(draw({ ...params, seed: 43 }));
    });
  }

  it('uses the seed that resolveSamplingParams drew', () => {
    const params = resolveSamplingParams({ topK: 20 });
    const sampler = new Sampler(params);
    expect(sampler.params.seed).toBe(params.seed);
    expect(draw(params)).toEqual(draw({ topK: 20, seed: params.seed }));
  });

  it('rejects bad params', () => {
    expect(() => new Sampler({ topP: 0 })).toThrow(/topP must be/);
  });
});
