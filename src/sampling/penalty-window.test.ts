import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { PenaltyWindow } from './penalty-window.js';

function referenceCounts(history: readonly number[], numLastTokens: number): Map<number, number> {
  const counts = new Map<number, number>();
  if (numLastTokens === 0) return counts;
  const start = numLastTokens < 0 ? 0 : Math.max(0, history.length - numLastTokens);
  for (const tokenId of history.slice(start)) counts.set(tokenId, (counts.get(tokenId) ?? 0) + 1);
  return counts;
}

function sorted(counts: ReadonlyMap<number, number>): Array<[number, number]> {
  return [...counts.entries()].sort((a, b) => a[0] - b[0]);
}

describe('PenaltyWindow', () => {
  for (const numLastTokens of [-1, 0, 1, 3, 64]) {
    it(`counts the last ${numLastTokens} tokens while the history grows by 1..20 tokens a step`, () => {
      const rng = new Rng(numLastTokens + 100);
      const window = new PenaltyWindow(numLastTokens);
      const history: number[] = [];
      for (let step = 0; step < 300; step++) {
        const numNew = step % 10 === 0 ? 1 + Math.floor(rng.next() * 20) : 1;
        for (let i = 0; i < numNew; i++) history.push(Math.floor(rng.next() * 12));
        expect(sorted(window.sync(history))).toEqual(sorted(referenceCounts(history, numLastTokens)));
      }
    });
  }

  it('recounts when the history shrinks or is replaced by another sequence', () => {
    const window = new PenaltyWindow(4);
    window.sync([1, 2, 3, 4, 5, 6]);
    expect(sorted(window.sync([9, 9]))).toEqual([[9, 2]]);
    expect(sorted(window.sync([7, 7, 7, 8]))).toEqual([[7, 3], [8, 1]]); // longer, but last synced token differs
    expect(sorted(window.sync([7, 7, 7, 8, 8]))).toEqual([[7, 2], [8, 2]]);
  });

  it('is the same for a fresh window and one that followed the history', () => {
    const history = Array.from({ length: 500 }, (_, i) => (i * 31) % 17);
    const followed = new PenaltyWindow(50);
    for (let n = 1; n <= history.length; n++) followed.sync(history.slice(0, n));
    expect(sorted(followed.sync(history))).toEqual(sorted(new PenaltyWindow(50).sync(history)));
  });
});
