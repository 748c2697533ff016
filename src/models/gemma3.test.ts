import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readGguf } from '../formats/gguf/index.js';
import { writeSyntheticModel } from '../testing/synthetic-model.js';
import { parseGemma3Config } from './gemma3.js';
import { isSlidingWindowLayer } from './model-config.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-gemma3-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gemma3', () => {
  const path = join(dir, 'tiny.gguf');
  writeSyntheticModel(path, { shape: 'tiny-gemma3', weightType: 'Q8_0', seed: 5 });

  it('reads its config as llama.cpp does: q/k norm, 5 local : 1 global, local rope 1e4 unscaled, global rope from the file with linear scaling, no soft-caps', () => {
    const config = parseGemma3Config(readGguf(path));
    expect(config).toMatchObject({
      architecture: 'gemma3', hiddenSize: 256, numLayers: 6, numHeads: 4, numKvHeads: 2, headDim: 128, activation: 'gelu', hasQkNorm: true,
      embeddingScale: 16, queryScale: Math.fround(1 / Math.fround(Math.sqrt(128))), hasPostNorms: true, slidingWindow: 32, slidingWindowPattern: 6,
    });
    expect(config.attentionSoftcap).toBeUndefined();
    expect(config.finalLogitSoftcap).toBeUndefined();
    expect(config.rope).toMatchObject({ mode: 'neox', freqBase: 1e6, freqScale: 1 / 8 });
    expect(config.localRope).toMatchObject({ mode: 'neox', freqBase: 1e4, freqScale: 1 });
    expect([0, 1, 2, 3, 4, 5].map((i) => isSlidingWindowLayer(config, i))).toEqual([true, true, true, true, true, false]);
  });

  it('needs gemma3.attention.sliding_window, as llama.cpp does', () => {
    const bare = join(dir, 'bare.gguf');
    writeSyntheticModel(bare, { shape: { ...{ name: 'bare', architecture: 'gemma3', dim: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 64, ffnDim: 256, vocabSize: 512, contextLength: 256, ropeTheta: 1e6, rmsNormEps: 1e-6, hasTiedEmbeddings: true, vocabKind: 'spm' } }, weightType: 'Q8_0', seed: 1 });
    expect(() => parseGemma3Config(readGguf(bare))).toThrow(/gemma3\.attention\.sliding_window/);
  });
});
