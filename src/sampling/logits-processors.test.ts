import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { applyLogitBias, applyTokenMask } from './logits-processors.js';

describe('applyTokenMask', () => {
  it('matches a per-token brute force for random masks (dense, sparse, full and empty words, a partial last word)', () => {
    const rng = new Rng(1);
    for (const vocabSize of [1, 31, 32, 33, 100, 1000]) {
      for (const density of [0, 0.02, 0.5, 0.98, 1]) {
        const mask = new Uint32Array(Math.ceil(vocabSize / 32));
        for (let t = 0; t < vocabSize; t++) if (rng.next() < density) mask[t >>> 5]! |= 1 << (t & 31);
        const logits = Float32Array.from({ length: vocabSize }, () => rng.next() * 10 - 5);
        const expected = Array.from(logits, (l, t) => (mask[t >>> 5]! & (1 << (t & 31)) ? l : -Infinity));
        const numAllowed = applyTokenMask(logits, mask);
        expect(Array.from(logits)).toEqual(expected);
        expect(numAllowed).toBe(expected.filter((l) => l !== -Infinity).length);
      }
    }
  });
});

describe('applyLogitBias', () => {
  it('adds each bias to its token only', () => {
    const logits = Float32Array.of(1, 2, 3, 4);
    applyLogitBias(logits, { tokenIds: Int32Array.of(1, 3), biases: Float32Array.of(-100, 0.5) });
    expect(Array.from(logits)).toEqual([1, -98, 3, 4.5]);
  });
});
