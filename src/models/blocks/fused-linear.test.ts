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
  it("a file's stacked matrix (Phi-3's attn_qkv) is used as it is and splits into its parts' outputs", () => {
    const numCols = 64;
    const parts = [32, 64, 32].map((rows, i) => weight(`w${i}`, GgmlType.Q8_0, rows, numCols));
    const data = new Uint8Array(parts.reduce((n, p) => n + p.data.length, 0));
    let offset = 0;
    for (const p of parts) {
      data.set(p.data, offset);
      offset += p.data.length;
    }
    const stacked: WeightTensor = { name: 'blk.0.attn_qkv.weight', type: GgmlType.Q8_0, numRows: 128, numCols, data };
    const fused = new FusedLinear(new Workspace(backend), stacked.name, [stacked], [32, 64, 32]);
    expect(fused.weights).toEqual([stacked]);
    expect((fused.weights[0] as WeightTensor).data).toBe(data); // not copied (the reference backend uploads by reference)
    const x = gaussian(2 * numCols);
    const outs = parts.map((p) => new Float32Array(2 * p.numRows).fill(NaN));
    fused.forwardSplit(outs, x, 2);
    outs.forEach((out, i) => expect(out).toEqual(expected(parts, x, 2)[i]));
  });

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
      const fused = new FusedLinear(new Workspace(backend), 'stacked', parts);
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
