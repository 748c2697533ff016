import { invariant } from '../errors/engine-error.js';
import type { KvCacheType } from '../kernels/kernel-backend.js';
import type { ParallelExecutor } from '../parallel/parallel-executor.js';
import type { SchedulerOutput } from '../scheduler/scheduler-output.js';
import { HostScratch } from '../models/host-scratch.js';
import { buildForwardBatch } from './build-forward-batch.js';
import type { Runner, RunnerOutput } from './model-runner.js';
import { splitMicroBatches } from './split-micro-batches.js';
import { pooledRows, samplingRequestIds, stepSequences } from './step-sequences.js';

export interface ParallelRunnerOptions {
  readonly numKvBlocks: number;
  readonly blockSize: number;
  readonly kvCacheType: KvCacheType;
  /** most micro-batches a step is split into (default: the pipeline's stages, so that each stage has one to work on) */
  readonly maxMicroBatches?: number;
}

/**
 * Runs the engine's steps on a model sharded over workers (ParallelExecutor): each step's
 * sequences become up to maxMicroBatches contiguous micro-batches of disjoint sequences, which
 * the executor streams through its pipeline stages; the logits (and hidden rows for pooling)
 * come back in the step's order. The workers' KV cache is allocated at construction; a failure
 * there fails the first step.
 */
export class ParallelRunner implements Runner {
  private readonly blockSize: number;
  private readonly maxMicroBatches: number;
  /** settles once every worker holds its shard of the KV cache */
  private readonly kvReady: Promise<void>;
  /** host scratch per micro-batch (block tables of decode runs), reused from step to step */
  private readonly scratch: HostScratch[] = [];
  /** [rows] the last step's argmax, by the executor */
  private argmax: Int32Array | undefined;

  constructor(
    private readonly executor: ParallelExecutor,
    options: ParallelRunnerOptions,
  ) {
    this.blockSize = options.blockSize;
    this.maxMicroBatches = options.maxMicroBatches ?? executor.plan.pipelineParallel;
    invariant(Number.isInteger(this.maxMicroBatches) && this.maxMicroBatches >= 1, `maxMicroBatches must be a positive integer (got ${this.maxMicroBatches})`);
    this.kvReady = executor.allocateKvCache({ numBlocks: options.numKvBlocks, blockSize: options.blockSize, dtype: options.kvCacheType });
    this.kvReady.catch(() => {}); // reported by the first execute, which awaits it
  }

  async execute(output: SchedulerOutput): Promise<RunnerOutput> {
    await this.kvReady;
    const sequences = stepSequences(output.scheduled);
    const groups = splitMicroBatches(sequences, (s) => s.tokenIds.length, this.maxMicroBatches);
    const batches = groups.map((group, m) => buildForwardBatch(group, this.blockSize, this.scratchOf(m)));
    const { logits, argmax, hidden } = await this.executor.forward(batches);
    const { vocabSize, hiddenSize } = this.executor.config;
    const requestIds = samplingRequestIds(output.scheduled);
    invariant(logits.length === requestIds.length * vocabSize && argmax.length === requestIds.length, `the executor returned ${argmax.length} logits rows for ${requestIds.length}`);
    this.argmax = argmax;
    const numHiddenRows = batches.reduce((sum, b) => sum + b.hiddenRows.length, 0);
    if (numHiddenRows === 0) return { requestIds, logits, vocabSize };
    invariant(hidden.length === numHiddenRows * hiddenSize, `the executor returned ${hidden.length / hiddenSize} hidden rows for ${numHiddenRows}`);
    // the micro-batches are contiguous runs of the step's sequences, so their rows are in the step's order
    return { requestIds, logits, vocabSize, pooled: pooledRows(output.scheduled, sequences, hidden, hiddenSize) };
  }

  /** the executor's argmax of the last step's rows (taken before the host logits were edited) */
  argmaxRows(numRows: number): Int32Array {
    invariant(this.argmax !== undefined, 'argmaxRows before any execute');
    return this.argmax.subarray(0, numRows);
  }

  private scratchOf(microBatch: number): HostScratch {
    while (this.scratch.length <= microBatch) this.scratch.push(new HostScratch());
    return this.scratch[microBatch]!;
  }
}
