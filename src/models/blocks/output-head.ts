import type { KernelBackend, WeightTensor } from '../../kernels/kernel-backend.js';
import type { WeightLoader } from '../weight-loader.js';
import type { Workspace } from '../workspace.js';
import type { RmsNorm } from './rms-norm.js';

/**
 * The last norm and the output projection, run on the rows whose logits are wanted only; rows
 * wanted for pooling get the norm and no projection.
 */
export class OutputHead {
  /** [hiddenRows.length, hiddenSize] the last forward's normed hidden rows (a view of a reused buffer) */
  hidden: Float32Array = new Float32Array(0);

  constructor(
    private readonly backend: KernelBackend,
    private readonly ws: Workspace,
    private readonly norm: RmsNorm,
    /** [vocabSize, hiddenSize] */
    readonly output: WeightTensor,
    /** logits become cap · tanh(logit / cap) (Gemma 2's final_logit_softcapping) */
    private readonly softcap?: number,
  ) {}

  /**
   * `outputName`'s matrix, or the token embedding's when the file has none (tied embeddings); a
   * tied head gets its own prepared copy, since the embedding lookup needs the plain rows.
   */
  static load(w: WeightLoader, backend: KernelBackend, ws: Workspace, norm: RmsNorm, outputName: string, tokenEmbedding: WeightTensor, softcap?: number): OutputHead {
    const output = w.has(outputName) ? w.matrix(outputName, tokenEmbedding.numRows, tokenEmbedding.numCols) : tokenEmbedding;
    return new OutputHead(backend, ws, norm, backend.prepareWeight?.(output) ?? output, softcap);
  }

  get vocabSize(): number {
    return this.output.numRows;
  }

  /**
   * [logitRows.length, vocabSize] logits of rows `logitRows` of x ([numTokens, hiddenSize], the
   * residual stream after the last layer), in a buffer reused by the next call; the normed rows
   * `hiddenRows` go to `hidden`
   */
  forward(x: Float32Array, logitRows: Int32Array, hiddenRows: Int32Array = new Int32Array(0)): Float32Array {
    const hiddenSize = this.output.numCols;
    const numOut = logitRows.length;
    const numRows = numOut + hiddenRows.length;
    const last = this.ws.get('last', numRows * hiddenSize); // [numOut + hiddenRows.length, hiddenSize]
    for (let i = 0; i < numRows; i++) {
      const r = i < numOut ? logitRows[i]! : hiddenRows[i - numOut]!;
      last.set(x.subarray(r * hiddenSize, (r + 1) * hiddenSize), i * hiddenSize);
    }
    this.norm.forward(last, last, numRows);
    this.hidden = last.subarray(numOut * hiddenSize);
    const logits = this.ws.get('logits', numOut * this.vocabSize); // [numOut, vocabSize]
    this.backend.matmul(logits, this.output, last, numOut);
    if (this.softcap !== undefined) this.backend.softcap(logits, numOut * this.vocabSize, this.softcap);
    return logits;
  }
}
