import { splitColumns, splitRows } from '../../parallel/weight-split.js';
import type { WeightTensor } from '../../kernels/kernel-backend.js';

/**
 * Which part of a layer one worker of a tensor-parallel group holds (src/parallel/): rank `rank`
 * of `worldSize` keeps its 1/worldSize of the attention heads (q/k/v rows by whole heads, their
 * biases, the KV cache) and of the MLP's features (gate/up rows), and the matching columns of the
 * attention output and FFN down projections, whose partial outputs an all-reduce then sums.
 * A block loaded without one holds the whole layer.
 */
export interface TensorShard {
  readonly rank: number;
  readonly worldSize: number;
}

/** this shard's rows of w (column-parallel), `rowUnit` rows (a head) kept together */
export function shardRows(w: WeightTensor, shard: TensorShard, rowUnit = 1): WeightTensor {
  return splitRows(w, shard.rank, shard.worldSize, rowUnit);
}

/** this shard's columns of w (row-parallel: its output is a partial sum) */
export function shardColumns(w: WeightTensor, shard: TensorShard): WeightTensor {
  return splitColumns(w, shard.rank, shard.worldSize);
}

/** this shard's entries of a per-row vector (a bias) of length units · unitLength */
export function shardVector(v: Float32Array, shard: TensorShard): Float32Array {
  const n = v.length / shard.worldSize;
  return v.slice(shard.rank * n, (shard.rank + 1) * n);
}
