import { ModelLoadError } from '../errors/engine-error.js';
import { ggmlTypeName, ggmlTypeTraits } from '../formats/ggml-type.js';
import type { WeightTensor } from '../kernels/kernel-backend.js';

/**
 * Tensor-parallel shards of a weight matrix ([numRows, numCols] in GGUF's row-major ggml blocks,
 * as loaded: split before the backend's prepareWeight, whose packed layouts are not GGUF blocks).
 *
 * - splitRows, column-parallel: rank r keeps a contiguous run of output rows (q/k/v heads, gate
 *   and up features) and computes those outputs in full; every rank needs the whole input.
 *   Each output is the same dot product as one worker's, over the same activations: bit for bit
 *   the same numbers (for F16, while the shard keeps a multiple of 32 rows, as every model's
 *   does: with fewer, F16 matmuls round the activations to f16 as llama.cpp does for shapes its
 *   AMX buffer does not take).
 * - splitColumns, row-parallel: rank r keeps a contiguous run of input columns of every row
 *   (attention output, FFN down), multiplies its slice of the input, and an all-reduce sums the
 *   partial outputs. The cut falls on a block boundary of the weight's type (32 for Q8_0/Q4_0,
 *   256 for the k-quants), and the matmul quantizes its activations in blocks of the same size
 *   (Q8_0, Q8_K) starting at column 0 of the shard, so every rank quantizes exactly the blocks one
 *   worker would: the quantized activations are identical, and the only difference from one
 *   worker is the order in which the block sums are added (see Transport.allReduceSum).
 */

function shardError(w: WeightTensor, what: string): ModelLoadError {
  return new ModelLoadError('BAD_TENSOR_SHAPE', `cannot split ${w.name} (${ggmlTypeName(w.type)}, ${w.numRows} x ${w.numCols}) for tensor parallelism: ${what}`);
}

function checkRank(rank: number, worldSize: number): void {
  if (!Number.isInteger(worldSize) || worldSize < 1 || !Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new ModelLoadError('BAD_TENSOR_SHAPE', `rank ${rank} is not in a tensor-parallel world of ${worldSize}`);
  }
}

/** the bytes of one row */
function rowBytes(w: WeightTensor): number {
  const traits = ggmlTypeTraits(w.type);
  if (!traits || w.numCols % traits.blockSize !== 0) throw shardError(w, 'unknown type or a row that is not whole blocks');
  return (w.numCols / traits.blockSize) * traits.typeSize;
}

/**
 * Rows [rank · numRows / worldSize, (rank + 1) · numRows / worldSize) of w (a view of its bytes, no
 * copy). `rowUnit` rows stay together (a head's headDim rows): the units must divide evenly.
 */
export function splitRows(w: WeightTensor, rank: number, worldSize: number, rowUnit = 1): WeightTensor {
  checkRank(rank, worldSize);
  if (w.numRows % rowUnit !== 0 || (w.numRows / rowUnit) % worldSize !== 0) {
    throw shardError(w, `${w.numRows / rowUnit} units of ${rowUnit} rows do not divide among ${worldSize} ranks`);
  }
  const numRows = w.numRows / worldSize;
  return sliceRows(w, rank * numRows, numRows);
}

/** Rows [first, first + numRows) of w (a view of its bytes, no copy): one part of a stacked matrix (Phi-3's attn_qkv). */
export function sliceRows(w: WeightTensor, first: number, numRows: number): WeightTensor {
  if (!Number.isInteger(first) || !Number.isInteger(numRows) || first < 0 || numRows < 0 || first + numRows > w.numRows) {
    throw shardError(w, `rows ${first}:${first + numRows} are not rows of it`);
  }
  const bytes = rowBytes(w);
  const data = w.data.subarray(first * bytes, (first + numRows) * bytes);
  return { name: `${w.name}[rows ${first}:${first + numRows}]`, type: w.type, numRows, numCols: w.numCols, data };
}

/** Columns [rank · numCols / worldSize, (rank + 1) · numCols / worldSize) of every row of w (a copy), cut on block boundaries. */
export function splitColumns(w: WeightTensor, rank: number, worldSize: number): WeightTensor {
  checkRank(rank, worldSize);
  const traits = ggmlTypeTraits(w.type);
  if (!traits) throw shardError(w, 'unknown type');
  const numCols = w.numCols / worldSize;
  if (!Number.isInteger(numCols) || numCols % traits.blockSize !== 0) {
    throw shardError(w, `${w.numCols} columns do not split among ${worldSize} ranks on ${traits.blockSize}-element block boundaries`);
  }
  const inRow = rowBytes(w);
  const outRow = (numCols / traits.blockSize) * traits.typeSize;
  const data = new Uint8Array(w.numRows * outRow);
  for (let r = 0; r < w.numRows; r++) data.set(w.data.subarray(r * inRow + rank * outRow, r * inRow + (rank + 1) * outRow), r * outRow);
  const first = rank * numCols;
  return { name: `${w.name}[cols ${first}:${first + numCols}]`, type: w.type, numRows: w.numRows, numCols, data };
}

/** The matrices' rows one under the other (same type and width), as a matmul by them all at once wants them. */
export function stackRows(name: string, parts: readonly WeightTensor[]): WeightTensor {
  const first = parts[0];
  if (!first || parts.some((p) => p.type !== first.type || p.numCols !== first.numCols)) {
    throw new ModelLoadError('BAD_TENSOR_SHAPE', `cannot stack ${parts.map((p) => p.name).join(', ')}: types or widths differ`);
  }
  const data = new Uint8Array(parts.reduce((sum, p) => sum + p.data.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    data.set(p.data, offset);
    offset += p.data.byteLength;
  }
  return { name, type: first.type, numRows: parts.reduce((sum, p) => sum + p.numRows, 0), numCols: first.numCols, data };
}
