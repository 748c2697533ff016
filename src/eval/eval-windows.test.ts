import { describe, expect, it } from 'vitest';
import { evalWindows, numScoredPerWindow } from './eval-windows.js';

describe('evalWindows (llama-perplexity chunks)', () => {
  const tokens = [1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];

  it('whole windows only, each starting with BOS; the second half is scored', () => {
    const windows = evalWindows(tokens, 4, 1);
    expect(windows.map((w) => w.tokenIds)).toEqual([
      [1, 10, 11, 12],
      [1, 14, 15, 16], // 13 replaced by BOS
    ]);
    expect(windows.map((w) => w.firstScoredPosition)).toEqual([2, 2]);
    expect(numScoredPerWindow(4)).toBe(1); // logits at position 2 predict the token at 3
    expect(numScoredPerWindow(512)).toBe(255); // llama.cpp: n_ctx - 1 - n_ctx/2
    expect(numScoredPerWindow(5)).toBe(2);
  });

  it('without BOS the tokens are kept', () => {
    expect(evalWindows(tokens, 5, undefined).map((w) => w.tokenIds)).toEqual([
      [1, 10, 11, 12, 13],
      [14, 15, 16, 17, 18],
    ]);
  });

  it('too few tokens for a window: none; a window below 4 tokens: an error', () => {
    expect(evalWindows(tokens, 12, 1)).toEqual([]);
    expect(() => evalWindows(tokens, 3, 1)).toThrow(RangeError);
  });
});
