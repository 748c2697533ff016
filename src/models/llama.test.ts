import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readGguf } from '../formats/gguf/index.js';
import { writeSyntheticModel } from '../testing/synthetic-model.js';
import { parseLlamaConfig } from './llama.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-llama-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('llama', () => {
  const path = join(dir, 'tiny.gguf');
  writeSyntheticModel(path, { shape: 'tiny-64', weightType: 'Q8_0', seed: 5 });

  it('reads its config from the common GGUF keys, with SwiGLU and adjacent-pair rope', () => {
    const config = parseLlamaConfig(readGguf(path));
    expect(config).toMatchObject({ architecture: 'llama', hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 4, headDim: 16, ffnSize: 128, activation: 'silu' });
    expect(config.rope.mode).toBe('norm');
  });
});
