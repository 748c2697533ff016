import { invariant } from '../errors/engine-error.js';
import type { KernelBackend, WeightHandle, WeightTensor } from '../kernels/kernel-backend.js';
import type { Transport } from './transport.js';
import { splitColumns, splitRows, stackRows } from './weight-split.js';

/** One rank's shard of a gated MLP, as loaded (not yet prepared for a backend). */
export interface GatedMlpShard {
  /** [2 · ffnSize / worldSize, hiddenSize] this rank's gate rows, then its up rows (the same features) */
  readonly gateUp: WeightTensor;
  /** [hiddenSize, ffnSize / worldSize] the columns of down that multiply those features */
  readonly down: WeightTensor;
}

/**
 * Rank's shard of down · (act(gate · x) ⊙ (up · x)): features [rank · F/W, (rank + 1) · F/W) of
 * gate and up (column-parallel: split by rows) and the same columns of down (row-parallel: split
 * by columns). gate, up: [F, hidden]; down: [hidden, F].
 */
export function shardGatedMlp(gate: WeightTensor, up: WeightTensor, down: WeightTensor, rank: number, worldSize: number): GatedMlpShard {
  const gateShard = splitRows(gate, rank, worldSize);
  const upShard = splitRows(up, rank, worldSize);
  return {
    gateUp: stackRows(`${gateShard.name}+${upShard.name}`, [gateShard, upShard]),
    down: splitColumns(down, rank, worldSize),
  };
}

/**
 * The gated MLP (SwiGLU, or GeGLU) on one rank of a tensor-parallel group: this rank's features
 * in full (one matmul by its gate and up rows, as the single-worker model's stacked gate-up), its
 * partial down projection over those features, then one all-reduce that sums the partials of
 * every rank. Every rank ends with the same output; it differs from one worker's by the order of
 * the down projection's sums only (see splitColumns and Transport.allReduceSum).
 */
export class TensorParallelMlp {
  /** [numTokens, 2 · ffnShard] each row this rank's gate features, then its up features */
  private gateUpOut = new Float32Array(0);

  constructor(
    private readonly backend: KernelBackend,
    private readonly transport: Transport,
    /** prepared shard.gateUp */
    private readonly gateUp: WeightHandle,
    /** prepared shard.down */
    private readonly down: WeightHandle,
    private readonly activation: 'silu' | 'gelu' = 'silu',
  ) {
    invariant(gateUp.numRows === 2 * down.numCols && gateUp.numCols === down.numRows, `MLP shard shapes do not match: gateUp ${gateUp.numRows} x ${gateUp.numCols}, down ${down.numRows} x ${down.numCols}`);
  }

  get hiddenSize(): number {
    return this.down.numRows;
  }

  /** out: [numTokens, hiddenSize] the whole MLP's output, on every rank; x: [numTokens, hiddenSize] the normed input */
  async forward(out: Float32Array, x: Float32Array, numTokens: number): Promise<void> {
    const width = this.gateUp.numRows;
    if (this.gateUpOut.length < numTokens * width) this.gateUpOut = new Float32Array(numTokens * width);
    const gateUpOut = this.gateUpOut.subarray(0, numTokens * width);
    this.backend.matmul(gateUpOut, this.gateUp, x, numTokens);
    if (this.activation === 'gelu') this.backend.matmulGeglu(out, this.down, gateUpOut, numTokens);
    else this.backend.matmulSwiglu(out, this.down, gateUpOut, numTokens);
    await this.transport.allReduceSum(out.subarray(0, numTokens * this.hiddenSize));
  }
}
