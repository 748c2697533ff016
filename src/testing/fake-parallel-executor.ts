import type { KvCacheType } from '../kernels/kernel-backend.js';
import type { ForwardBatch } from '../models/forward-batch.js';
import type { ModelConfig } from '../models/model-config.js';
import type { ParallelExecutor, ParallelPlan, ShardedForwardResult } from '../parallel/parallel-executor.js';

/**
 * A ParallelExecutor that runs no workers: a logits row peaks at `nextToken(tokenId)` of the row's
 * token (and its argmax says so), and a hidden row is [tokenId, position, 0, ...]. It records every
 * call, so tests can check what the engine's side sent. `failForward` makes forward reject.
 */
export class FakeParallelExecutor implements ParallelExecutor {
  readonly backendNames: readonly string[];
  readonly hasBf16Batches = false;
  readonly forwardCalls: (readonly ForwardBatch[])[] = [];
  readonly kvAllocations: { numBlocks: number; blockSize: number; dtype: KvCacheType }[] = [];
  numCloses = 0;
  failForward: Error | undefined;
  failAllocate: Error | undefined;

  constructor(
    readonly plan: ParallelPlan,
    readonly config: ModelConfig,
    private readonly nextToken: (tokenId: number) => number,
  ) {
    this.backendNames = Array.from({ length: plan.tensorParallel * plan.pipelineParallel }, () => 'fake');
  }

  allocateKvCache(spec: { readonly numBlocks: number; readonly blockSize: number; readonly dtype: KvCacheType }): Promise<void> {
    this.kvAllocations.push({ ...spec });
    return this.failAllocate ? Promise.reject(this.failAllocate) : Promise.resolve();
  }

  async forward(microBatches: readonly ForwardBatch[]): Promise<ShardedForwardResult> {
    // copies: the runner reuses its scratch (block tables) from step to step
    this.forwardCalls.push(microBatches.map((b) => structuredClone(b)));
    await Promise.resolve();
    if (this.failForward) throw this.failForward;
    const { vocabSize, hiddenSize } = this.config;
    const logitRows = microBatches.flatMap((b) => [...b.logitRows].map((r) => b.tokenIds[r]!));
    const hiddenRows = microBatches.flatMap((b) => [...b.hiddenRows].map((r) => [b.tokenIds[r]!, b.positions[r]!]));
    const logits = new Float32Array(logitRows.length * vocabSize); // [rows, vocabSize]
    const argmax = Int32Array.from(logitRows, (t) => this.nextToken(t));
    argmax.forEach((t, row) => (logits[row * vocabSize + t] = 10));
    const hidden = new Float32Array(hiddenRows.length * hiddenSize); // [rows, hiddenSize]
    hiddenRows.forEach((values, row) => hidden.set(values, row * hiddenSize));
    return { logits, argmax, hidden };
  }

  async close(): Promise<void> {
    this.numCloses++;
  }
}
