import type { KvStorage } from '../kernels/kv-storage.js';
import type { CausalLM } from '../models/causal-lm.js';
import { Workspace } from '../models/workspace.js';
import type { SchedulerOutput } from '../scheduler/scheduler-output.js';
import { buildForwardBatch } from './build-forward-batch.js';

/** Logits of the requests that sample this step: row i of `logits` belongs to requestIds[i]. */
export interface RunnerOutput {
  readonly requestIds: readonly string[];
  /** [requestIds.length, vocabSize] */
  readonly logits: Float32Array;
  readonly vocabSize: number;
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
    const batch = buildForwardBatch(
      output.scheduled.map((s) => ({
        tokenIds: s.tokenIds,
        startPosition: s.startPosition,
        blockTable: s.blockTable,
        // a request whose prompt is all computed samples from its last row's logits
        logitRows: s.isPrefillComplete ? [s.numTokens - 1] : [],
      })),
      this.kv,
      this.ws,
    );
    const requestIds = output.scheduled.filter((s) => s.isPrefillComplete).map((s) => s.requestId);
    const logits = this.network.forward(batch, this.kv);
    return { requestIds, logits, vocabSize: this.network.config.vocabSize };
  }

  argmaxRows(logits: Float32Array, numRows: number): Int32Array {
    return this.network.argmaxRows(logits, numRows);
  }
}
