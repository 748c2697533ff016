import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../errors/engine-error.js';
import { validateModelConfig, type ModelConfig } from './model-config.js';

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

  it('refuses every feature the kernels cannot run yet, naming each, instead of ignoring it', () => {
    const cases: [Partial<ModelConfig>, RegExp][] = [
      [{ activation: 'gelu' }, /activation gelu/],
      [{ normWeightOffset: 1 }, /norm weight offset 1/],
      [{ attentionSoftcap: 50 }, /attention logit soft-capping/],
      [{ finalLogitSoftcap: 30 }, /final logit soft-capping/],
      [{ slidingWindow: 4096 }, /sliding-window attention/],
    ];
    for (const [feature, message] of cases) {
      const err = (() => {
        try {
          validateModelConfig({ ...llamaLike, ...feature }, 'm.gguf');
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(ModelLoadError);
      expect((err as ModelLoadError).code).toBe('UNSUPPORTED_ARCHITECTURE');
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toMatch(/^m\.gguf: test needs .* not support yet$/);
    }
    expect(() => validateModelConfig({ ...llamaLike, activation: 'gelu', slidingWindow: 8 }, 'm.gguf')).toThrow(/activation gelu, sliding-window attention/);
  });
});
