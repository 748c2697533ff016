import type { KvStorage } from '../kernels/kv-storage.js';
import type { BatchSequence, ForwardBatch } from '../models/forward-batch.js';
import type { CausalLM } from '../models/registry.js';
import type { SchedulerOutput } from '../scheduler/scheduler-output.js';

/** Logits of the requests that sample this step: row i of `logits` belongs to requestIds[i]. */
export interface RunnerOutput {
  readonly requestIds: readonly string[];
  /** [requestIds.length, vocabSize] */
  readonly logits: Float32Array;
  readonly vocabSize: number;
}

/** Turns a scheduler step into one batched forward pass over all scheduled tokens. */
export class ModelRunner {
  constructor(
    readonly network: CausalLM,
    readonly kv: KvStorage,
  ) {}

  execute(output: SchedulerOutput): RunnerOutput {
    const n = output.numBatchedTokens;
    const tokenIds = new Int32Array(n); //  [n]
    const positions = new Int32Array(n); // [n]
    const sequences: BatchSequence[] = [];
    const logitRows: number[] = [];
    const requestIds: string[] = [];
    let start = 0;
    for (const s of output.scheduled) {
      tokenIds.set(s.tokenIds, start);
      for (let i = 0; i < s.numTokens; i++) positions[start + i] = s.startPosition + i;
      sequences.push({ start, numTokens: s.numTokens, blockTable: s.blockTable });
      if (s.isPrefillComplete) {
        logitRows.push(start + s.numTokens - 1);
        requestIds.push(s.requestId);
      }
      start += s.numTokens;
    }
    const batch: ForwardBatch = { tokenIds, positions, sequences, logitRows: Int32Array.from(logitRows) };
    const logits = this.network.forward(batch, this.kv);
    return { requestIds, logits, vocabSize: this.network.config.vocabSize };
  }
}
