import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../errors/engine-error.js';
import { readGguf } from '../formats/gguf/index.js';
import { resolveModelShape } from '../testing/model-shapes.js';
import { writeSyntheticModel } from '../testing/synthetic-model.js';
import { parseGemma2Config } from './gemma2.js';
import { isSlidingWindowLayer } from './model-config.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-gemma2-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gemma2', () => {
  const path = join(dir, 'tiny.gguf');
  writeSyntheticModel(path, { shape: 'tiny-gemma2', weightType: 'Q8_0', seed: 5 });

  it('reads its config as llama.cpp does: GeGLU, NEOX rope, √dim embeddings, q × 1/√headDim, post-norms, soft-caps, window on even layers', () => {
    const config = parseGemma2Config(readGguf(path));
    expect(config).toMatchObject({
      architecture: 'gemma2', hiddenSize: 256, numLayers: 4, numHeads: 4, numKvHeads: 2, headDim: 64, activation: 'gelu',
      embeddingScale: 16, queryScale: 0.125, hasPostNorms: true, attentionSoftcap: 3, finalLogitSoftcap: 15, slidingWindow: 32, slidingWindowPattern: 2,
    });
    expect(config.rope).toMatchObject({ mode: 'neox', numRotaryDims: 64, freqBase: 10000, freqScale: 1 });
    expect(config.localRope).toBeUndefined();
    expect(config.normWeightOffset ?? 0).toBe(0); // the file stores 1 + w
    expect([0, 1, 2, 3].map((i) => isSlidingWindowLayer(config, i))).toEqual([true, false, true, false]);
  });

  it("takes llama.cpp's defaults where the keys are absent (window 4096, caps 50 / 30) and the 27B's query scale by its 46 layers", () => {
    const bare = join(dir, 'bare.gguf');
    // 46 layers and heads of 128 over dim 256: the 27B's rule scales q by 1/√(256 / 4), not 1/√128
    const shape = { ...resolveModelShape('tiny-gemma2'), name: 'bare', numLayers: 46, headDim: 128, slidingWindow: undefined, attentionSoftcap: undefined, finalLogitSoftcap: undefined };
    writeSyntheticModel(bare, { shape, weightType: 'Q8_0', seed: 1 });
    const config = parseGemma2Config(readGguf(bare));
    expect(config).toMatchObject({ slidingWindow: 4096, attentionSoftcap: 50, finalLogitSoftcap: 30 });
    expect(config.queryScale).toBe(0.125);
  });

  it('refuses a zero soft-cap or window', () => {
    const bad = join(dir, 'bad.gguf');
    writeSyntheticModel(bad, { shape: { ...resolveModelShape('tiny-gemma2'), name: 'bad', finalLogitSoftcap: 0 }, weightType: 'Q8_0', seed: 1 });
    expect(() => parseGemma2Config(readGguf(bad))).toThrow(ModelLoadError);
    expect(() => parseGemma2Config(readGguf(bad))).toThrow(/final_logit_softcapping = 0/);
    writeSyntheticModel(bad, { shape: { ...resolveModelShape('tiny-gemma2'), name: 'bad', slidingWindow: 0 }, weightType: 'Q8_0', seed: 1 });
    expect(() => parseGemma2Config(readGguf(bad))).toThrow(/sliding_window = 0/);
  });
});
