import { invariant } from '../errors/engine-error.js';
import type { DeviceBuffer, KvCache } from '../kernels/kernel-backend.js';
import type { CausalLM } from '../models/causal-lm.js';
import { Workspace } from '../models/workspace.js';
import type { SchedulerOutput } from '../scheduler/scheduler-output.js';
import { buildForwardBatch } from './build-forward-batch.js';
import { pooledRows, samplingRequestIds, stepSequences } from './step-sequences.js';

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
  /**
   * one forward pass over every token `output` schedules; a runner whose forward pass runs
   * elsewhere (workers: ParallelRunner) returns a promise, and the step awaits it
   */
  execute(output: SchedulerOutput): RunnerOutput | Promise<RunnerOutput>;
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
    const sequences = stepSequences(output.scheduled);
    const batch = buildForwardBatch(sequences, this.kv.spec.blockSize, this.ws);
    const requestIds = samplingRequestIds(output.scheduled);
    const backend = this.network.backend;
    this.logits = this.network.forward(batch, this.kv);
    const logits = backend.read(this.logits);
    if (batch.hiddenRows.length === 0) return { requestIds, logits, vocabSize: this.network.config.vocabSize };

    const hiddenSize = this.network.config.hiddenSize;
    const hidden = backend.read(this.network.hiddenRows()); // [batch.hiddenRows.length, hiddenSize]
    invariant(hidden.length === batch.hiddenRows.length * hiddenSize, `${this.network.config.architecture}: forward returned no hidden rows for pooling`);
    return { requestIds, logits, vocabSize: this.network.config.vocabSize, pooled: pooledRows(output.scheduled, sequences, hidden, hiddenSize) };
  }

  argmaxRows(numRows: number): Int32Array {
    invariant(this.logits !== undefined, 'argmaxRows before any execute');
    return this.network.argmaxRows(this.logits, numRows);
  }
}
