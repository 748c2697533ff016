import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../errors/engine-error.js';
import { isSlidingWindowLayer, validateModelConfig, type ModelConfig } from './model-config.js';

const llamaLike: ModelConfig = {
  architecture: 'test',
  hiddenSize: 64,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  ffnSize: 128,
  vocabSize: 512,
  contextLength: 256,
  normEps: 1e-5,
  rope: { mode: 'norm', numRotaryDims: 16, freqBase: 10000, freqScale: 1 },
};

describe('validateModelConfig', () => {
  it('accepts the plain Llama form, with or without the optional fields spelled out', () => {
    expect(validateModelConfig(llamaLike, 'm.gguf')).toBe(llamaLike);
    const explicit = { ...llamaLike, activation: 'silu', hasAttentionBias: false, hasQkNorm: false, normWeightOffset: 0 } as const;
    expect(validateModelConfig(explicit, 'm.gguf')).toBe(explicit);
  });

  it('accepts the features the blocks run: q/k/v bias (Qwen2), q/k norm (Qwen3), NEOX rope', () => {
    const qwen = { ...llamaLike, hasAttentionBias: true, hasQkNorm: true, rope: { ...llamaLike.rope, mode: 'neox' } } as const;
    expect(validateModelConfig(qwen, 'm.gguf')).toBe(qwen);
  });

  it('accepts the Gemma features the kernels run: GELU, soft-caps, sliding window', () => {
    const gemma = { ...llamaLike, activation: 'gelu', attentionSoftcap: 50, finalLogitSoftcap: 30, slidingWindow: 4096, slidingWindowPattern: 2, hasPostNorms: true } as const;
    expect(validateModelConfig(gemma, 'm.gguf')).toBe(gemma);
  });

  it('refuses a norm weight offset (GGUF stores Gemma norms as 1 + w), naming it, instead of ignoring it', () => {
    const err = (() => {
      try {
        validateModelConfig({ ...llamaLike, normWeightOffset: 1 }, 'm.gguf');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as ModelLoadError).code).toBe('UNSUPPORTED_ARCHITECTURE');
    expect((err as Error).message).toMatch(/^m\.gguf: test needs norm weight offset 1, which .* not support yet$/);
  });
});

describe('isSlidingWindowLayer', () => {
  it("follows llama.cpp's swa pattern: Gemma 2 every other layer from 0, Gemma 3 five of six, Mistral all, none without a window", () => {
    const layers = (c: ModelConfig): boolean[] => Array.from({ length: 12 }, (_, i) => isSlidingWindowLayer(c, i));
    expect(layers({ ...llamaLike, slidingWindow: 8, slidingWindowPattern: 2 })).toEqual([true, false, true, false, true, false, true, false, true, false, true, false]);
    expect(layers({ ...llamaLike, slidingWindow: 8, slidingWindowPattern: 6 })).toEqual([true, true, true, true, true, false, true, true, true, true, true, false]);
    expect(layers({ ...llamaLike, slidingWindow: 8 }).every(Boolean)).toBe(true);
    expect(layers(llamaLike).some(Boolean)).toBe(false);
  });
});
