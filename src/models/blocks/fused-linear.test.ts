import { describe, expect, it } from 'vitest';
import { GgmlType } from '../../formats/ggml-type.js';
import type { WeightTensor } from '../../kernels/kernel-backend.js';
import { ReferenceBackend } from '../../kernels/reference/reference-backend.js';
import { quantize } from '../../quant/index.js';
import { Rng } from '../../util/rng.js';
import { Workspace } from '../workspace.js';
import { FusedLinear } from './fused-linear.js';

const backend = new ReferenceBackend();
const rng = new Rng(3);
const gaussian = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.gaussian());

function weight(name: string, type: GgmlType, numRows: number, numCols: number): WeightTensor {
  const values = gaussian(numRows * numCols);
  const data = type === GgmlType.F32 ? new Uint8Array(values.buffer) : quantize(type, values);
  return { name, type, numRows, numCols, data };
}

/** each part's matmul on its own: the numbers FusedLinear must give */
function expected(parts: readonly WeightTensor[], x: Float32Array, numTokens: number): Float32Array[] {
  return parts.map((p) => {
    const out = new Float32Array(numTokens * p.numRows);
    backend.matmul(out, p, x, numTokens);
    return out;
  });
}

describe('FusedLinear', () => {
  const numCols = 64;
  const numTokens = 3;
  const x = gaussian(numTokens * numCols);
  const cases: [string, GgmlType[]][] = [
    ['same types: one stacked matmul', [GgmlType.Q8_0, GgmlType.Q8_0, GgmlType.Q8_0]],
    ['different types: one matmul each', [GgmlType.Q8_0, GgmlType.F32, GgmlType.Q8_0]],
  ];
  for (const [name, types] of cases) {
    it(`${name}: split and side-by-side outputs equal the parts' own matmuls`, () => {
      const parts = types.map((type, i) => weight(`w${i}`, type, [32, 64, 32][i]!, numCols));
      const fused = new FusedLinear(backend, new Workspace(), 'stacked', parts);
      expect(fused.isStacked).toBe(types.every((t) => t === types[0]));
      const want = expected(parts, x, numTokens);

      const outs = parts.map((p) => new Float32Array(numTokens * p.numRows).fill(NaN));
      fused.forwardSplit(outs, x, numTokens);
      outs.forEach((out, i) => expect(out).toEqual(want[i]));

      const width = 128;
      const concat = new Float32Array(numTokens * width).fill(NaN);
      fused.forwardConcat(concat, x, numTokens);
      for (let t = 0; t < numTokens; t++) {
        let col = 0;
        parts.forEach((p, i) => {
          expect(concat.subarray(t * width + col, t * width + col + p.numRows)).toEqual(want[i]!.subarray(t * p.numRows, (t + 1) * p.numRows));
          col += p.numRows;
        });
      }
    });
  }
});
