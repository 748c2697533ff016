import type { PoolingType } from '../scheduler/request.js';

/**
 * One pooling request's vector, built from the hidden rows each step hands it (a prompt prefilled
 * in chunks arrives over several steps): their sum (in f64) for `mean`, the row itself for `last`
 * and `cls`. Preemption recomputes the prompt from the start, so `reset` drops what was added.
 */
export class Pooler {
  /** [hiddenSize] */
  private readonly sum: Float64Array;
  private numRows = 0;

  constructor(
    readonly pooling: PoolingType,
    hiddenSize: number,
  ) {
    this.sum = new Float64Array(hiddenSize);
  }

  /** rows: [numRows, hiddenSize], the rows poolingRows() asked for, in order */
  add(rows: Float32Array, numRows: number): void {
    const h = this.sum.length;
    if (this.pooling !== 'mean' && numRows > 0) this.reset(); // last/cls: one row, kept
    for (let r = 0; r < numRows; r++) {
      for (let i = 0; i < h; i++) this.sum[i]! += rows[r * h + i]!;
    }
    this.numRows += numRows;
  }

  reset(): void {
    this.sum.fill(0);
    this.numRows = 0;
  }

  /** The pooled vector, L2-normalized when `normalize` (a zero vector stays zero). */
  finish(normalize: boolean): Float32Array {
    const out = new Float32Array(this.sum.length);
    if (this.numRows === 0) return out;
    let sumOfSquares = 0;
    for (const v of this.sum) sumOfSquares += (v / this.numRows) ** 2;
    const scale = normalize && sumOfSquares > 0 ? 1 / (this.numRows * Math.sqrt(sumOfSquares)) : 1 / this.numRows;
    for (let i = 0; i < out.length; i++) out[i] = this.sum[i]! * scale;
    return out;
  }
}
