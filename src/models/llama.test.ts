import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Model } from '../engine/model.js';
import type { WeightTensor } from '../kernels/kernel-backend.js';
import { writeSyntheticModel } from '../testing/synthetic-model.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-llama-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** rows [first, first + numRows) of a row-major weight (the reference backend keeps GGUF's layout) */
function rowsOf(w: WeightTensor, first: number, numRows: number, name: string): WeightTensor {
  const rowBytes = w.data.length / w.numRows;
  return { name, type: w.type, numRows, numCols: w.numCols, data: w.data.slice(first * rowBytes, (first + numRows) * rowBytes) };
}

describe('LlamaModel', () => {
  it('gives the same logits with gate and up as one stacked matmul or as two (gate and up of different types)', () => {
    const path = join(dir, 'tiny.gguf');
    writeSyntheticModel(path, { shape: 'tiny-64', weightType: 'Q8_0', seed: 5 });
    const model = Model.load(path, { backend: 'reference' });
    try {
      const tokens = [1, 7, 30, 2, 11];
      const stacked = model.evaluate(tokens);
      const layers = (model.network as unknown as { layers: { gateUp: readonly WeightTensor[] }[] }).layers;
      for (const layer of layers) {
        expect(layer.gateUp).toHaveLength(1); // same types: stacked at load
        const [both] = layer.gateUp as [WeightTensor];
        const ffnDim = both.numRows / 2;
        (layer as { gateUp: readonly WeightTensor[] }).gateUp = [rowsOf(both, 0, ffnDim, 'gate'), rowsOf(both, ffnDim, ffnDim, 'up')];
      }
      const separate = model.evaluate(tokens);
      expect(separate).toHaveLength(tokens.length);
      for (let t = 0; t < tokens.length; t++) expect(separate[t]).toEqual(stacked[t]);
    } finally {
      model.dispose();
    }
  });
});
