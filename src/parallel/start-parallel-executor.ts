import { readModel } from '../formats/read-model.js';
import type { KvCacheType } from '../kernels/kernel-backend.js';
import type { ForwardBatch } from '../models/forward-batch.js';
import type { ModelConfig } from '../models/model-config.js';
import { DeviceGroup } from './device-group.js';
import type { ParallelExecutor, ParallelExecutorOptions, ParallelPlan, ShardedForwardResult } from './parallel-executor.js';
import { readModelConfig } from '../models/registry.js';
import { validatePlan } from './parallel-plan.js';

/**
 * Shared-memory ring per ordered pair of workers: 1 MiB holds a 128-token prefill's residual
 * stream of a 2048-wide model, so a stage hands it over without waiting for the next stage to
 * take it (larger messages still stream through the ring, only in step with the reader).
 */
const PARALLEL_RING_BYTES = 1 << 20;

/**
 * Loads the model at `path` sharded over tensorParallel × pipelineParallel workers (a DeviceGroup):
 * reads its header here to check the plan against it (ParallelPlan's splits must divide its heads,
 * KV heads and FFN features, each stage needs a layer), then has every worker read the file itself
 * and load its shard (ShardedModel). Rejects, with the workers stopped, when any of that fails.
 */
export async function startParallelExecutor(path: string, options: ParallelExecutorOptions): Promise<ShardedExecutor> {
  const config = readModelConfig(readModel(path, { tokenizer: options.tokenizer }));
  validatePlan(options, config);
  const { tensorParallel, pipelineParallel, transport } = options;
  const group = await DeviceGroup.start({
    worldSize: tensorParallel * pipelineParallel,
    transport,
    threadsPerWorker: options.threadsPerWorker,
    backend: options.backend,
    matmulPrecision: options.matmulPrecision,
    ringBytes: PARALLEL_RING_BYTES,
  });
  try {
    await group.runAll(() => ({ kind: 'loadModel', path, tensorParallel, pipelineParallel, contextSize: options.contextSize, tokenizer: options.tokenizer }));
  } catch (err) {
    await group.close();
    throw err;
  }
  return new ShardedExecutor({ tensorParallel, pipelineParallel, transport }, config, group);
}

/** ParallelExecutor over a DeviceGroup whose workers hold a ShardedModel each. */
export class ShardedExecutor implements ParallelExecutor {
  constructor(
    readonly plan: ParallelPlan,
    readonly config: ModelConfig,
    private readonly group: DeviceGroup,
  ) {}

  get backendNames(): readonly string[] {
    return this.group.backendNames;
  }

  get hasBf16Batches(): boolean {
    return this.group.hasBf16Batches;
  }

  async allocateKvCache(spec: { readonly numBlocks: number; readonly blockSize: number; readonly dtype: KvCacheType }): Promise<void> {
    await this.group.runAll(() => ({ kind: 'allocateKvCache', numBlocks: spec.numBlocks, blockSize: spec.blockSize, dtype: spec.dtype }));
  }

  /** every worker gets the micro-batches (each stage needs their positions and slots); the last stage's TP rank 0 returns the outputs */
  async forward(microBatches: readonly ForwardBatch[]): Promise<ShardedForwardResult> {
    const results = await this.group.runAll(() => ({ kind: 'forward', microBatches }));
    const reporter = (this.plan.pipelineParallel - 1) * this.plan.tensorParallel;
    return results[reporter]!.result as ShardedForwardResult;
  }

  /** ends worker `rank` at once (a supervisor's last resort; the executor is dead afterwards, its forward rejects) */
  kill(rank: number): void {
    this.group.kill(rank);
  }

  close(): Promise<void> {
    return this.group.close();
  }
}
