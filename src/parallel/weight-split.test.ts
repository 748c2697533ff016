import { afterAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../errors/engine-error.js';
import { GgmlType, ggmlTypeName } from '../formats/ggml-type.js';
import type { KernelBackend, WeightHandle, WeightTensor } from '../kernels/kernel-backend.js';
import { quantizeQ8_0, type Q8Activations } from '../kernels/reference/activation-quant.js';
import { ReferenceBackend } from '../kernels/reference/reference-backend.js';
import { selectBackend } from '../kernels/select-backend.js';
import { dequantize, quantize } from '../quant/index.js';
import { Rng } from '../util/rng.js';
import { splitColumns, splitRows, stackRows } from './weight-split.js';
import { maxRelativeError } from '../testing/relative-error.js';

const TYPES = [GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K];

function randomWeight(rng: Rng, type: GgmlType, numRows: number, numCols: number, name = 'w'): WeightTensor {
  const values = Float32Array.from({ length: numRows * numCols }, () => rng.gaussian() * 0.1);
  return { name, type, numRows, numCols, data: quantize(type, values) };
}

/** the weight's values, [numRows, numCols] */
function valuesOf(w: WeightTensor): Float32Array {
  return dequantize(w.type, w.data, w.numRows * w.numCols);
}

// the backend the workers select (native where it built) and the reference one
const native = selectBackend('auto', { threads: 2 });
const BACKENDS: readonly KernelBackend[] = native.name === 'reference' ? [native] : [native, new ReferenceBackend()];
afterAll(() => (native as Partial<Disposable>)[Symbol.dispose]?.());

describe('splitRows and splitColumns', () => {
  it.each(TYPES.map((t) => [ggmlTypeName(t), t] as const))('cut %s matrices into the sub-matrices they name', (_, type) => {
    const rng = new Rng(type);
    const numRows = 8;
    const numCols = 1024; // 4 k-quant blocks: 2 per rank of 2, 1 per rank of 4
    const w = randomWeight(rng, type, numRows, numCols);
    const all = valuesOf(w);
    for (const worldSize of [1, 2, 4]) {
      for (let rank = 0; rank < worldSize; rank++) {
        const rows = splitRows(w, rank, worldSize);
        expect([rows.numRows, rows.numCols]).toEqual([numRows / worldSize, numCols]);
        expect(valuesOf(rows)).toEqual(all.subarray((rank * numRows * numCols) / worldSize, ((rank + 1) * numRows * numCols) / worldSize));
        const cols = splitColumns(w, rank, worldSize);
        const width = numCols / worldSize;
        expect([cols.numRows, cols.numCols]).toEqual([numRows, width]);
        const expected = new Float32Array(numRows * width);
        for (let r = 0; r < numRows; r++) expected.set(all.subarray(r * numCols + rank * width, r * numCols + (rank + 1) * width), r * width);
        expect(valuesOf(cols)).toEqual(expected);
      }
    }
    const stacked = stackRows('gate+up', [splitRows(w, 1, 2), splitRows(w, 0, 2)]);
    expect(valuesOf(stacked)).toEqual(Float32Array.from([...all.subarray((numRows / 2) * numCols), ...all.subarray(0, (numRows / 2) * numCols)]));
  });

  it('refuses cuts that do not divide evenly or fall inside a block (BAD_TENSOR_SHAPE)', () => {
    const rng = new Rng(7);
    const q4 = randomWeight(rng, GgmlType.Q4_0, 6, 96);
    const expectShapeError = (f: () => unknown): void => {
      expect(f).toThrow(ModelLoadError);
      expect(f).toThrow(expect.objectContaining({ code: 'BAD_TENSOR_SHAPE' }));
    };
    expectShapeError(() => splitRows(q4, 0, 4)); // 6 rows among 4
    expectShapeError(() => splitRows(q4, 0, 2, 2)); // 3 heads of 2 rows among 2
    expectShapeError(() => splitColumns(q4, 0, 2)); // 48 columns: inside a 32-element block
    expectShapeError(() => splitColumns(q4, 2, 2)); // no rank 2
    expect(splitColumns(q4, 2, 3).numCols).toBe(32);
    expect(splitRows(q4, 1, 3, 2).numRows).toBe(2);
  });
});

describe.each(BACKENDS.map((b) => [b.name, b] as const))('tensor-parallel matmuls on %s', (_, backend) => {
  const prepare = (w: WeightTensor): WeightHandle => backend.uploadWeight(w, 'matmul');

  it.each(TYPES.map((t) => [ggmlTypeName(t), t] as const))('%s: column-parallel shards give one worker\'s outputs bit for bit; row-parallel partial sums add up to them within 1e-5', (_, type) => {
    const rng = new Rng(100 + type);
    // shards of 32 rows or more: an F16 matrix of fewer than 32 rows is multiplied by f16-rounded
    // activations, as llama.cpp does where its AMX buffer does not take the shape (reference-backend.ts)
    const numRows = 128;
    const numCols = 1024;
    const numTokens = 3;
    const w = randomWeight(rng, type, numRows, numCols);
    const x = Float32Array.from({ length: numTokens * numCols }, () => rng.gaussian());
    const full = new Float32Array(numTokens * numRows);
    backend.matmul(full, prepare(w), x, numTokens);
    for (const worldSize of [2, 4]) {
      // column-parallel: rank r's outputs are rows [r · n/W, (r + 1) · n/W) of every token's output
      const shardRows = numRows / worldSize;
      for (let rank = 0; rank < worldSize; rank++) {
        const out = new Float32Array(numTokens * shardRows);
        backend.matmul(out, prepare(splitRows(w, rank, worldSize)), x, numTokens);
        for (let t = 0; t < numTokens; t++) {
          expect(out.subarray(t * shardRows, (t + 1) * shardRows)).toEqual(full.subarray(t * numRows + rank * shardRows, t * numRows + (rank + 1) * shardRows));
        }
      }
      // row-parallel: the partial products over each rank's columns, summed in rank order
      const shardCols = numCols / worldSize;
      const sum = new Float32Array(numTokens * numRows);
      for (let rank = 0; rank < worldSize; rank++) {
        const xShard = new Float32Array(numTokens * shardCols);
        for (let t = 0; t < numTokens; t++) xShard.set(x.subarray(t * numCols + rank * shardCols, t * numCols + (rank + 1) * shardCols), t * shardCols);
        const partial = new Float32Array(numTokens * numRows);
        backend.matmul(partial, prepare(splitColumns(w, rank, worldSize)), xShard, numTokens);
        for (let i = 0; i < sum.length; i++) sum[i] = Math.fround(sum[i]! + partial[i]!);
      }
      expect(maxRelativeError(sum, full)).toBeLessThan(1e-5); // measured up to 1.2e-6 (F32 on the scalar kernels' sequential sums)
    }
  });
});

describe('row-parallel activations', () => {
  it('quantize to the same Q8_0 blocks on each rank as on one worker when the cut is on a block boundary, and not otherwise', () => {
    const rng = new Rng(9);
    const n = 256;
    const x = Float32Array.from({ length: n }, () => rng.gaussian() * (1 + rng.next() * 10));
    const q8 = (length: number): Q8Activations => ({ qs: new Int8Array(length), d: new Float32Array(length / 32) });
    const whole = q8(n);
    quantizeQ8_0(x, 0, n, whole);
    for (const cut of [128, 96]) {
      const shard = q8(n - cut);
      quantizeQ8_0(x, cut, n - cut, shard);
      expect(shard.qs).toEqual(whole.qs.subarray(cut));
      expect(shard.d).toEqual(whole.d.subarray(cut / 32));
    }
    // a cut inside a block (at 112 = 3.5 blocks) makes a rank scale blocks one worker never forms
    const misaligned = q8(n - 112 + 16);
    quantizeQ8_0(Float32Array.from([...x.subarray(112), ...new Float32Array(16)]), 0, n - 112 + 16, misaligned);
    expect(misaligned.d.subarray(0, 4)).not.toEqual(whole.d.subarray(3, 7));
  });
});
