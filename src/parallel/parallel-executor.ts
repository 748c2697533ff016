import type { KvCacheType } from '../kernels/kernel-backend.js';
import type { BackendChoice } from '../kernels/select-backend.js';
import type { MatmulPrecision } from '../kernels/native/native-backend.js';
import type { ForwardBatch } from '../models/forward-batch.js';
import type { ModelConfig } from '../models/model-config.js';
import type { TransportKind } from './transport.js';

/**
 * How a model is spread over workers that act as devices: `tensorParallel` workers per pipeline
 * stage (attention heads, FFN columns and the KV cache split by heads among them), and
 * `pipelineParallel` stages (contiguous runs of layers). tensorParallel × pipelineParallel workers
 * in all; rank = stage · tensorParallel + tpRank.
 */
export interface ParallelPlan {
  readonly tensorParallel: number;
  readonly pipelineParallel: number;
  /** how the workers exchange activations: threads of this process, or processes on Unix sockets */
  readonly transport: TransportKind;
}

export interface ParallelExecutorOptions extends ParallelPlan {
  /** kernel threads per worker, its own thread included; default 1 */
  readonly threadsPerWorker?: number;
  /** each worker's kernel backend; default 'auto' */
  readonly backend?: BackendChoice;
  /** each worker's Q8_0 / Q4_0 / Q4_K batch arithmetic (LoadModelOptions.matmulPrecision); default 'exact' */
  readonly matmulPrecision?: MatmulPrecision;
  /** the context the model is loaded for (Phi-3's rope factors depend on it) */
  readonly contextSize: number;
  /** LoadModelOptions.tokenizer, for a Hugging Face directory without tokenizer.json */
  readonly tokenizer?: string;
}

/** A sharded forward pass's outputs, on the host, rows in the order of the micro-batches given. */
export interface ShardedForwardResult {
  /** [Σ logitRows.length, vocabSize] */
  readonly logits: Float32Array;
  /** [Σ logitRows.length] the argmax of each logits row */
  readonly argmax: Int32Array;
  /** [Σ hiddenRows.length, hiddenSize] final hidden states after the output norm (empty when none was asked for) */
  readonly hidden: Float32Array;
}

/**
 * The parent's side of a model loaded on a group of workers (src/parallel/): each worker reads the
 * model file itself and keeps only its shard, and its shard of the KV cache. The engine's runner
 * (ParallelRunner) drives it once per step. Calls are made one at a time (await each).
 */
export interface ParallelExecutor {
  readonly plan: ParallelPlan;
  /** the whole model's config (not a shard's) */
  readonly config: ModelConfig;
  /** each worker's kernel backend (e.g. `native-avx2`), by rank */
  readonly backendNames: readonly string[];
  /** whether every worker's batch matmuls run in bf16 */
  readonly hasBf16Batches: boolean;
  /** allocates every worker's shard of a paged KV cache of numBlocks blocks (the block ids the scheduler hands out); replaces an earlier one */
  allocateKvCache(spec: { readonly numBlocks: number; readonly blockSize: number; readonly dtype: KvCacheType }): Promise<void>;
  /**
   * One step: the micro-batches (disjoint sequences) flow through the pipeline stages one after
   * another, so that stage s works on micro-batch m while stage s+1 works on m-1. Rejects with a
   * TransportError when a worker fails (the executor is dead afterwards).
   */
  forward(microBatches: readonly ForwardBatch[]): Promise<ShardedForwardResult>;
  /** stops the workers (frees their weights and KV caches); twice is harmless */
  close(): Promise<void>;
}
