import type { DeviceBuffer, KernelBackend, WeightHandle, WeightTensor } from '../../kernels/kernel-backend.js';
import { invariant } from '../../errors/engine-error.js';
import type { WeightLoader } from '../weight-loader.js';
import type { Workspace } from '../workspace.js';
import type { RmsNorm } from './rms-norm.js';
import { shardRows, type TensorShard } from './tensor-shard.js';

/**
 * The last norm and the output projection, run on the rows whose logits are wanted only; rows
 * wanted for pooling get the norm and no projection.
 */
export class OutputHead {
  /** [hiddenRows.length, hiddenSize] the last forward's normed hidden rows (a view of a reused buffer) */
  hidden: DeviceBuffer;

  constructor(
    private readonly backend: KernelBackend,
    private readonly ws: Workspace,
    private readonly norm: RmsNorm,
    /** [vocabSize, hiddenSize] */
    readonly output: WeightHandle,
    /** logits become cap · tanh(logit / cap) (Gemma 2's final_logit_softcapping) */
    private readonly softcap?: number,
  ) {
    this.hidden = ws.get('hidden', 0);
  }

  /**
   * `outputName`'s matrix ([vocabSize, hiddenSize]), or the token embedding's when the file has
   * none (tied embeddings; `tokenEmbedding` is called then only): the embedding's handle when the
   * model uploaded it for matmul (one copy serving both), else the embedding's bytes uploaded for
   * matmul on their own. With `shard`, this worker's vocabSize / worldSize rows of it only (the
   * embedding must then be given as bytes): forward's logits are then the columns
   * [rank · V/W, (rank + 1) · V/W) of every row, the same numbers as the whole head's.
   */
  static load(
    w: WeightLoader,
    ws: Workspace,
    norm: RmsNorm,
    outputName: string,
    size: { readonly vocabSize: number; readonly hiddenSize: number },
    tokenEmbedding: () => WeightTensor | WeightHandle,
    softcap?: number,
    shard?: TensorShard,
  ): OutputHead {
    const matrix = (): WeightTensor => w.matrix(outputName, size.vocabSize, size.hiddenSize);
    if (shard) {
      const output = w.has(outputName) ? matrix() : tokenEmbedding();
      invariant('data' in output, `a split output head needs ${output.name}'s bytes, not its handle`);
      return new OutputHead(ws.backend, ws, norm, ws.uploadWeight(shardRows(output, shard)), softcap);
    }
    const output = w.has(outputName) ? w.upload(ws, matrix()) : ws.uploadOrReuse(tokenEmbedding());
    return new OutputHead(ws.backend, ws, norm, output, softcap);
  }

  get vocabSize(): number {
    return this.output.numRows;
  }

  /**
   * [logitRows.length, vocabSize] logits of rows `logitRows` of x ([numTokens, hiddenSize], the
   * residual stream after the last layer), in a buffer reused by the next call; the normed rows
   * `hiddenRows` go to `hidden`
   */
  forward(x: DeviceBuffer, logitRows: Int32Array, hiddenRows: Int32Array = new Int32Array(0)): DeviceBuffer {
    const b = this.backend;
    const hiddenSize = this.output.numCols;
    const numOut = logitRows.length;
    const numRows = numOut + hiddenRows.length;
    const rows = hiddenRows.length === 0 ? logitRows : this.ws.getInt('lastRows', numRows); // [numRows] rows of x
    if (hiddenRows.length > 0) {
      rows.set(logitRows);
      rows.set(hiddenRows, numOut);
    }
    const last = this.ws.get('last', numRows * hiddenSize); // [numOut + hiddenRows.length, hiddenSize]
    b.gatherRows(last, x, rows, hiddenSize);
    this.norm.forward(last, last, numRows);
    this.hidden = b.view(last, numOut * hiddenSize, hiddenRows.length * hiddenSize);
    const logits = this.ws.get('logits', numOut * this.vocabSize); // [numOut, vocabSize]
    b.matmul(logits, this.output, last, numOut);
    if (this.softcap !== undefined) b.softcap(logits, numOut * this.vocabSize, this.softcap);
    return logits;
  }
}
