import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readGguf } from '../formats/gguf/index.js';
import { ReferenceBackend } from '../kernels/reference/reference-backend.js';
import { evaluateLogits } from '../runner/evaluate-logits.js';
import { writeSyntheticModel } from '../testing/synthetic-model.js';
import { parseLlamaConfig } from './llama.js';
import { createModel, SUPPORTED_ARCHITECTURES } from './registry.js';

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

  it('is built by the registry and gives one finite row of logits per token', () => {
    expect(SUPPORTED_ARCHITECTURES).toContain('llama');
    const model = createModel(readGguf(path), new ReferenceBackend());
    const logits = evaluateLogits(model, [1, 7, 30, 2, 11], 'f32');
    expect(logits).toHaveLength(5);
    for (const row of logits) {
      expect(row).toHaveLength(model.config.vocabSize);
      expect(row.every(Number.isFinite)).toBe(true);
    }
  });
});
