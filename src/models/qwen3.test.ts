import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readGguf } from '../formats/gguf/index.js';
import { writeSyntheticModel } from '../testing/synthetic-model.js';
import { parseQwen3Config } from './qwen3.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-qwen3-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('qwen3', () => {
  const path = join(dir, 'tiny.gguf');
  writeSyntheticModel(path, { shape: 'tiny-qwen3', weightType: 'Q8_0', seed: 5 });

  it('reads its config from the qwen3.* keys: its own head width, q/k norm, NEOX rope, no biases', () => {
    const config = parseQwen3Config(readGguf(path));
    expect(config).toMatchObject({ architecture: 'qwen3', hiddenSize: 256, numHeads: 4, numKvHeads: 2, headDim: 128, activation: 'silu', hasQkNorm: true, hasAttentionBias: false });
    expect(config.rope).toMatchObject({ mode: 'neox', numRotaryDims: 128 });
  });
});
