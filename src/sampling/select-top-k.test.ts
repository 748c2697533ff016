import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { selectTopK } from './select-top-k.js';

function referenceTopK(logits: Float32Array, k: number): number[] {
  const ids = Array.from(logits.keys());
  ids.sort((a, b) => (logits[b]! > logits[a]! ? 1 : logits[b]! < logits[a]! ? -1 : a - b));
  return ids.slice(0, Math.max(0, k));
}

describe('selectTopK', () => {
  const rng = new Rng(11);
  const cases: Array<[name: string, logits: Float32Array]> = [
    ['gaussian', Float32Array.from({ length: 5000 }, () => rng.gaussian() * 3)],
    ['heavy ties', Float32Array.from({ length: 5000 }, () => Math.floor(rng.next() * 8))],
    ['all equal', new Float32Array(300)],
    ['ascending', Float32Array.from({ length: 1000 }, (_, i) => i)],
    ['descending', Float32Array.from({ length: 1000 }, (_, i) => -i)],
    ['with -Infinity', Float32Array.from({ length: 1000 }, (_, i) => (i % 3 === 0 ? -Infinity : rng.gaussian()))],
  ];
  for (const [name, logits] of cases) {
    for (const k of [1, 2, 7, 40, 333, logits.length, logits.length + 5]) {
      it(`${name}, k=${k}: the k best ids, best first, ties to the lower id`, () => {
        expect(Array.from(selectTopK(logits, k))).toEqual(referenceTopK(logits, Math.min(k, logits.length)));
      });
    }
  }

  it('returns nothing for k = 0', () => {
    expect(selectTopK(new Float32Array([1, 2, 3]), 0)).toHaveLength(0);
  });
});
