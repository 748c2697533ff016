import { totalmem } from 'node:os';
import { describe, expect, it } from 'vitest';
import { checkContextSize, kvBytesPerToken } from './context-size.js';

const ONE_B = { contextLength: 131072, numLayers: 16, numKvHeads: 8, headDim: 64 }; // Llama-3.2-1B

describe('checkContextSize', () => {
  it('accepts 1 to the trained context', () => {
    expect(() => checkContextSize(1, ONE_B, 'f16')).not.toThrow();
    expect(() => checkContextSize(4096, ONE_B, 'f16')).not.toThrow();
  });

  it('refuses a non-integer, zero or negative size', () => {
    for (const n of [0, -1, 1.5, Number.NaN]) expect(() => checkContextSize(n, ONE_B, 'f16')).toThrow(/positive integer/);
  });

  it("refuses more than the model's trained context", () => {
    expect(() => checkContextSize(131073, ONE_B, 'f16')).toThrow(/exceeds the model's trained context of 131072 tokens/);
    expect(() => checkContextSize(1e9, ONE_B, 'f16')).toThrow(/INVALID_ARGUMENT|exceeds/);
  });

  it('refuses a context whose KV cache alone exceeds the machine memory', () => {
    const huge = { contextLength: 2 ** 27, numLayers: 128, numKvHeads: 16, headDim: 128 }; // 1 MiB of f16 KV per token
    expect(kvBytesPerToken(huge, 'f16')).toBe(2 ** 20);
    const tokens = Math.min(huge.contextLength, Math.ceil(totalmem() / 2 ** 20) + 1);
    expect(() => checkContextSize(tokens, huge, 'f16')).toThrow(/needs [\d.]+ GiB of KV cache; this machine has [\d.]+ GiB/);
    expect(kvBytesPerToken(ONE_B, 'f32')).toBe(2 * kvBytesPerToken(ONE_B, 'f16'));
  });
});
