import { invariant } from '../errors/engine-error.js';
import type { DeviceBuffer, KvCache } from '../kernels/kernel-backend.js';
import type { CausalLM } from '../models/causal-lm.js';
import { Workspace } from '../models/workspace.js';
import type { SchedulerOutput } from '../scheduler/scheduler-output.js';
import { buildForwardBatch } from './build-forward-batch.js';
import { poolingRows } from './pooling-rows.js';

/** Hidden states a pooling request needs from one step (see poolingRows). */
export interface PooledRows {
  readonly requestId: string;
  /** [numRows, hiddenSize] final hidden states (after the output norm), on the host, valid until the next execute */
  readonly rows: Float32Array;
  readonly numRows: number;
}

/** Logits of the requests that sample this step: row i of `logits` belongs to requestIds[i]. */
export interface RunnerOutput {
  readonly requestIds: readonly string[];
  /**
   * [requestIds.length, vocabSize] on the host (the step's one read-back), valid until the next
   * execute; the caller may edit them (bias, masks) after taking argmaxRows
   */
  readonly logits: Float32Array;
  readonly vocabSize: number;
  /** the hidden rows of each pooling request scheduled this step (absent when there is none) */
  readonly pooled?: readonly PooledRows[];
}

/** What EngineCore needs to execute a step; a test can pass a fake that runs no kernels. */
export interface Runner {
  /** one forward pass over every token `output` schedules */
  execute(output: SchedulerOutput): RunnerOutput;
  /**
   * the argmax of each of the first numRows rows of the last execute's logits, computed where the
   * logits are (on the backend): call it before editing the host logits
   */
  argmaxRows(numRows: number): Int32Array;
}

/**
 * Turns a scheduler step into one batched forward pass over all scheduled tokens. `kv` is on the
 * network's backend; the caller owns it (and the network) and disposes it.
 */
export class ModelRunner implements Runner {
  private readonly ws: Workspace;
  /** the last execute's logits on the backend: [numRows, vocabSize] */
  private logits: DeviceBuffer | undefined;

  constructor(
    readonly network: CausalLM,
    readonly kv: KvCache,
  ) {
    this.ws = new Workspace(network.backend);
  }

  execute(output: SchedulerOutput): RunnerOutput {
    const hiddenRows = output.scheduled.map((s) => (s.pooling === undefined ? [] : poolingRows(s.pooling, s)));
    const batch = buildForwardBatch(
      output.scheduled.map((s, i) => ({
        tokenIds: s.tokenIds,
        startPosition: s.startPosition,
        blockTable: s.blockTable,
        // a request whose prompt is all computed samples from its last row's logits; a pooling
        // request gets hidden rows instead, and never logits
        logitRows: s.isPrefillComplete && s.pooling === undefined ? [s.numTokens - 1] : [],
        hiddenRows: hiddenRows[i],
      })),
      this.kv.spec.blockSize,
      this.ws,
    );
    const requestIds = output.scheduled.filter((s) => s.isPrefillComplete && s.pooling === undefined).map((s) => s.requestId);
    const backend = this.network.backend;
    this.logits = this.network.forward(batch, this.kv);
    const logits = backend.read(this.logits);
    if (batch.hiddenRows.length === 0) return { requestIds, logits, vocabSize: this.network.config.vocabSize };

    const hiddenSize = this.network.config.hiddenSize;
    const hidden = backend.read(this.network.hiddenRows()); // [batch.hiddenRows.length, hiddenSize]
    invariant(hidden.length === batch.hiddenRows.length * hiddenSize, `${this.network.config.architecture}: forward returned no hidden rows for pooling`);
    const pooled: PooledRows[] = [];
    let row = 0;
    output.scheduled.forEach((s, i) => {
      if (s.pooling === undefined) return;
      const numRows = hiddenRows[i]!.length;
      pooled.push({ requestId: s.requestId, rows: hidden.subarray(row * hiddenSize, (row + numRows) * hiddenSize), numRows });
      row += numRows;
    });
    return { requestIds, logits, vocabSize: this.network.config.vocabSize, pooled };
  }

  argmaxRows(numRows: number): Int32Array {
    invariant(this.logits !== undefined, 'argmaxRows before any execute');
    return this.network.argmaxRows(this.logits, numRows);
  }
}
