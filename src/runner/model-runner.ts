import { invariant } from '../errors/engine-error.js';
import type { KvStorage } from '../kernels/kv-storage.js';
import type { CausalLM } from '../models/causal-lm.js';
import { Workspace } from '../models/workspace.js';
import type { SchedulerOutput } from '../scheduler/scheduler-output.js';
import { buildForwardBatch } from './build-forward-batch.js';
import { poolingRows } from './pooling-rows.js';

/** Hidden states a pooling request needs from one step (see poolingRows). */
export interface PooledRows {
  readonly requestId: string;
  /** [numRows, hiddenSize] final hidden states (after the output norm), valid until the next execute */
  readonly rows: Float32Array;
  readonly numRows: number;
}

/** Logits of the requests that sample this step: row i of `logits` belongs to requestIds[i]. */
export interface RunnerOutput {
  readonly requestIds: readonly string[];
  /** [requestIds.length, vocabSize] */
  readonly logits: Float32Array;
  readonly vocabSize: number;
  /** the hidden rows of each pooling request scheduled this step (absent when there is none) */
  readonly pooled?: readonly PooledRows[];
}

/** What EngineCore needs to execute a step; a test can pass a fake that runs no kernels. */
export interface Runner {
  /** one forward pass over every token `output` schedules */
  execute(output: SchedulerOutput): RunnerOutput;
  /** the argmax of each of the first numRows rows of the last execute's logits */
  argmaxRows(logits: Float32Array, numRows: number): Int32Array;
}

/** Turns a scheduler step into one batched forward pass over all scheduled tokens. */
export class ModelRunner implements Runner {
  private readonly ws = new Workspace();

  constructor(
    readonly network: CausalLM,
    readonly kv: KvStorage,
  ) {}

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
      this.kv,
      this.ws,
    );
    const requestIds = output.scheduled.filter((s) => s.isPrefillComplete && s.pooling === undefined).map((s) => s.requestId);
    const logits = this.network.forward(batch, this.kv);
    if (batch.hiddenRows.length === 0) return { requestIds, logits, vocabSize: this.network.config.vocabSize };

    const hiddenSize = this.network.config.hiddenSize;
    const hidden = this.network.hiddenRows(); // [batch.hiddenRows.length, hiddenSize]
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

  argmaxRows(logits: Float32Array, numRows: number): Int32Array {
    return this.network.argmaxRows(logits, numRows);
  }
}
