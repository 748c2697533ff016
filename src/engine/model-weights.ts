import type { KvCacheType } from '../kernels/kernel-backend.js';
import type { CausalLM } from '../models/causal-lm.js';
import type { ModelConfig } from '../models/model-config.js';
import type { ParallelPlan } from '../parallel/parallel-executor.js';
import type { Runner } from '../runner/model-runner.js';

/** The KV cache an engine asks for with its runner. */
export interface RunnerSpec {
  /** KV blocks over all requests (the block ids the scheduler hands out) */
  readonly numKvBlocks: number;
  /** token slots per KV block */
  readonly blockSize: number;
  readonly kvCacheType: KvCacheType;
}

/** An engine's runner and the KV cache behind it; dispose() frees the cache (twice is harmless). */
export interface RunnerHandle {
  readonly runner: Runner;
  dispose(): void;
}

/**
 * Where a loaded model's weights are, and how an engine runs steps on them: in this process on a
 * kernel backend (LocalWeights), or sharded over a group of workers (ParallelWeights). Model
 * holds one and gives the engine nothing else, so that the engine never needs the network.
 */
export interface ModelWeights {
  /** the whole model's config */
  readonly config: ModelConfig;
  /** the kernel backend's name, e.g. 'native-avx2' (a parallel model's says its plan too) */
  readonly backendName: string;
  /** whether batch matmuls run in bf16 on the backend (on every worker's, for a parallel model) */
  readonly hasBf16Batches: boolean;
  /** the network in this process, or undefined when the weights are on workers */
  readonly network: CausalLM | undefined;
  /** the plan the weights are spread over workers by, or undefined in this process */
  readonly parallelPlan: ParallelPlan | undefined;
  /** a runner over a fresh KV cache of spec's size */
  createRunner(spec: RunnerSpec): RunnerHandle;
  /**
   * frees the weights (and what runs them: the backend the model created, the workers); twice is
   * harmless. Work done in this process is done when it returns; the promise settles once the
   * workers, if any, have stopped.
   */
  close(): Promise<void>;
}
