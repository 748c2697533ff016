import { describe, expect, it } from 'vitest';
import { countModelParams, MODEL_SHAPE_NAMES, resolveModelShape, validateModelShape, type ModelShape } from './model-shapes.js';

describe('model shapes', () => {
  it('match the real checkpoints in parameter count', () => {
    // Hugging Face safetensors totals
    expect(countModelParams(resolveModelShape('llama-3.2-1b'))).toBe(1_235_814_400);
    expect(countModelParams(resolveModelShape('llama-3.1-8b'))).toBe(8_030_261_248);
    // stories110M: 109.5M with the 32000 × 768 embedding tied
    expect(countModelParams(resolveModelShape('llama-110m'))).toBe(109_529_856);
    // Qwen2.5-0.5B (tied, q/k/v biases): 494,032,768
    expect(countModelParams(resolveModelShape('qwen2.5-0.5b'))).toBe(494_032_768);
    // Qwen3-0.6B: 0.44B without the (tied) 151936 × 1024 embedding, as its model card says
    expect(countModelParams(resolveModelShape('qwen3-0.6b')) - 151936 * 1024).toBe(440_467_456);
    // gemma-2-2b and gemma-3-1b (tied, post-norms; gemma3's q/k norms)
    expect(countModelParams(resolveModelShape('gemma-2-2b'))).toBe(2_614_341_888);
    expect(countModelParams(resolveModelShape('gemma-3-1b'))).toBe(999_885_952);
    // Phi-3-mini-4k-instruct (untied, no LongRoPE factors): 3,821,079,552
    expect(countModelParams(resolveModelShape('phi-3-mini'))).toBe(3_821_079_552);
  });

  it('carry Llama 3 rope scaling and vocab facts', () => {
    const s = resolveModelShape('llama-3.2-1b');
    expect(s).toMatchObject({ dim: 2048, numLayers: 16, numHeads: 32, numKvHeads: 8, headDim: 64, ffnDim: 8192, vocabSize: 128256 });
    expect(s.ropeScaling).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192 });
    expect(s.hasTiedEmbeddings).toBe(true);
    expect(resolveModelShape('llama-3.1-8b').ropeScaling?.factor).toBe(8);
    expect(resolveModelShape('llama-3.1-8b').hasTiedEmbeddings).toBe(false);
    expect(resolveModelShape('llama-110m').vocabKind).toBe('spm');
  });

  it('are all valid, with k-quant friendly rows for the tiny test shapes', () => {
    for (const name of MODEL_SHAPE_NAMES) validateModelShape(resolveModelShape(name));
    for (const name of ['tiny', 'tiny-llama3', 'tiny-qwen2', 'tiny-qwen3', 'tiny-gemma2', 'tiny-gemma3'] as const) {
      const s = resolveModelShape(name);
      for (const rowLength of [s.dim, s.numHeads * s.headDim, s.ffnDim]) expect(rowLength % 256).toBe(0);
    }
  });

  it('rejects unknown names and inconsistent explicit shapes, listing every issue', () => {
    expect(() => resolveModelShape('llama-9000' as never)).toThrow(/unknown model shape 'llama-9000'/);
    const bad: ModelShape = { ...resolveModelShape('tiny'), name: 'bad', numKvHeads: 3, headDim: 15 };
    expect(() => resolveModelShape(bad)).toThrow(/numHeads 4 is not a multiple of numKvHeads 3; headDim 15 must be even/);
  });
});
