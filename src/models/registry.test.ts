import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readGguf } from '../formats/gguf/index.js';
import { ReferenceBackend } from '../kernels/reference/reference-backend.js';
import { evaluateLogits } from '../runner/evaluate-logits.js';
import type { ModelShapeName } from '../testing/model-shapes.js';
import { writeSyntheticModel } from '../testing/synthetic-model.js';
import type { WeightTensor, WeightUse } from '../kernels/kernel-backend.js';
import { createModel, SUPPORTED_ARCHITECTURES } from './registry.js';
import { matmulWeightShapes } from './weight-loader.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-registry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** each architecture's tiny fixture */
const FIXTURES: readonly [string, ModelShapeName][] = [
  ['llama', 'tiny-64'],
  ['qwen2', 'tiny-qwen2'],
  ['qwen3', 'tiny-qwen3'],
  ['gemma2', 'tiny-gemma2'],
  ['gemma3', 'tiny-gemma3'],
  ['phi3', 'tiny-phi3'],
];

describe('architecture registry', () => {
  it('lists exactly the architectures with a fixture here', () => {
    expect([...SUPPORTED_ARCHITECTURES].sort()).toEqual(FIXTURES.map(([arch]) => arch).sort());
  });

  it.each(FIXTURES)('%s is built by the registry and gives one finite row of logits per token', (arch, shape) => {
    const path = join(dir, `${arch}.gguf`);
    writeSyntheticModel(path, { shape, weightType: 'Q8_0', seed: 5 });
    const model = createModel(readGguf(path), new ReferenceBackend());
    expect(model.config.architecture).toBe(arch);
    const logits = evaluateLogits(model, [1, 7, 30, 2, 11], 'f32');
    expect(logits).toHaveLength(5);
    for (const row of logits) {
      expect(row).toHaveLength(model.config.vocabSize);
      expect(row.every(Number.isFinite)).toBe(true);
    }
  });

  it.each(FIXTURES)('%s uploads for matmul at least the matrices matmulWeightShapes names (what a backend may reserve memory for)', (arch, shape) => {
    const path = join(dir, `${arch}-shapes.gguf`);
    writeSyntheticModel(path, { shape, weightType: 'Q8_0', seed: 5 });
    let uploaded = 0; // weights uploaded for matmul (stacked q/k/v or gate/up: one upload of their rows)
    class Recording extends ReferenceBackend {
      override uploadWeight(w: WeightTensor, use?: WeightUse): WeightTensor {
        if ((use ?? 'matmul') === 'matmul') uploaded += w.numRows * w.numCols;
        return super.uploadWeight(w, use);
      }
    }
    const file = readGguf(path);
    createModel(file, new Recording());
    const named = matmulWeightShapes(file);
    expect(named.length).toBeGreaterThan(0);
    expect(named.reduce((sum, m) => sum + m.numRows * m.numCols, 0)).toBeLessThanOrEqual(uploaded);
  });
});
