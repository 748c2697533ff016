import { availableParallelism } from 'node:os';
import { InvalidRequestError } from '../errors/engine-error.js';
import type { ModelConfig } from '../models/model-config.js';
import type { ParallelExecutor, ParallelExecutorOptions, ParallelPlan } from '../parallel/parallel-executor.js';
import { TRANSPORT_KINDS } from '../parallel/transport.js';
import { ParallelRunner } from '../runner/parallel-runner.js';
import { checkKvCacheType } from '../kernels/kv-cache-type.js';
import { checkContextSize } from './context-size.js';
import { Model, type LoadModelOptions, type ModelParts } from './model.js';
import type { ModelWeights, RunnerHandle, RunnerSpec } from './model-weights.js';

/** Starts the workers of a model sharded by `options`' plan (src/parallel/start-parallel-executor.ts). */
export type StartParallelExecutor = (path: string, options: ParallelExecutorOptions) => Promise<ParallelExecutor>;

/**
 * The plan LoadModelOptions ask for, checked (InvalidRequestError), or undefined for one worker:
 * the model then loads in this process.
 */
export function parallelPlanOf(options: LoadModelOptions): ParallelPlan | undefined {
  const tensorParallel = positiveInteger(options.tensorParallel, 'tensorParallel');
  const pipelineParallel = positiveInteger(options.pipelineParallel, 'pipelineParallel');
  const transport = options.parallelTransport ?? 'shared-memory';
  if (!TRANSPORT_KINDS.includes(transport)) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `parallelTransport must be one of ${TRANSPORT_KINDS.join(', ')} (got ${String(transport)})`);
  }
  return tensorParallel * pipelineParallel === 1 ? undefined : { tensorParallel, pipelineParallel, transport };
}

/**
 * Loads a model on tensorParallel × pipelineParallel workers started by `start`: the tokenizer,
 * chat template and info are read here, the weights by each worker (its shard only). Throws
 * InvalidRequestError for options that cannot apply to workers (a backend instance), and
 * whatever `start` throws (ModelLoadError, TransportError); the workers are closed again when a
 * check after they started fails.
 */
export async function readParallelModel(path: string, options: LoadModelOptions, plan: ParallelPlan, start: StartParallelExecutor): Promise<ModelParts> {
  if (options.backend !== undefined && typeof options.backend !== 'string') {
    throw new InvalidRequestError('INVALID_ARGUMENT', 'a kernel backend instance cannot be shared with workers: pass a backend choice with tensorParallel / pipelineParallel');
  }
  const d = Model.describe(path, options);
  const numWorkers = plan.tensorParallel * plan.pipelineParallel;
  const executor = await start(path, {
    ...plan,
    threadsPerWorker: options.threads ?? Math.max(1, Math.floor(availableParallelism() / numWorkers)),
    backend: options.backend,
    matmulPrecision: options.matmulPrecision,
    contextSize: d.contextSize,
    tokenizer: options.tokenizer,
  });
  try {
    const c = executor.config;
    checkKvCacheType(d.kvCacheType, (c.numKvHeads / plan.tensorParallel) * c.headDim); // each worker's K/V rows
    checkContextSize(d.contextSize, c, d.kvCacheType);
  } catch (err) {
    await executor.close();
    throw err;
  }
  const weights = new ParallelWeights(executor);
  return { path, info: d.info, tokenizer: d.tokenizer, chatTemplateSource: d.chatTemplateSource, tokenizerPath: options.tokenizer, weights, contextSize: d.contextSize, kvCacheType: d.kvCacheType };
}

/**
 * A model's weights sharded over workers (a ParallelExecutor). The workers hold one KV cache, so
 * one engine at a time runs on them: a second createRunner before the first's dispose is refused.
 */
export class ParallelWeights implements ModelWeights {
  readonly network = undefined;
  private hasRunner = false;

  constructor(private readonly executor: ParallelExecutor) {}

  get config(): ModelConfig {
    return this.executor.config;
  }

  get parallelPlan(): ParallelPlan {
    return this.executor.plan;
  }

  /** e.g. 'native-avx2 ×4 (tensor-parallel 2 × pipeline-parallel 2, shared-memory)' */
  get backendName(): string {
    const { tensorParallel, pipelineParallel, transport } = this.executor.plan;
    const names = [...new Set(this.executor.backendNames)].join('/');
    return `${names} ×${tensorParallel * pipelineParallel} (tensor-parallel ${tensorParallel} × pipeline-parallel ${pipelineParallel}, ${transport})`;
  }

  get hasBf16Batches(): boolean {
    return this.executor.hasBf16Batches;
  }

  createRunner(spec: RunnerSpec): RunnerHandle {
    if (this.hasRunner) {
      throw new InvalidRequestError('INVALID_ARGUMENT', "a model on workers serves one engine at a time: shut the other engine down (or dispose its KV cache) first");
    }
    const runner = new ParallelRunner(this.executor, { numKvBlocks: spec.numKvBlocks, blockSize: spec.blockSize, kvCacheType: spec.kvCacheType });
    this.hasRunner = true;
    let isDisposed = false;
    return {
      runner,
      dispose: () => {
        if (isDisposed) return;
        isDisposed = true;
        this.hasRunner = false;
      },
    };
  }

  close(): Promise<void> {
    return this.executor.close();
  }
}

function positiveInteger(value: number | undefined, name: string): number {
  if (value === undefined) return 1;
  if (!Number.isInteger(value) || value < 1) throw new InvalidRequestError('INVALID_ARGUMENT', `${name} must be a positive integer (got ${String(value)})`);
  return value;
}
