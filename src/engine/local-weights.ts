import type { KernelBackend } from '../kernels/kernel-backend.js';
import type { CausalLM } from '../models/causal-lm.js';
import type { ModelConfig } from '../models/model-config.js';
import { ModelRunner } from '../runner/model-runner.js';
import type { ModelWeights, RunnerHandle, RunnerSpec } from './model-weights.js';

/** A model's weights in this process: a network on a kernel backend, run by ModelRunner. */
export class LocalWeights implements ModelWeights {
  readonly parallelPlan = undefined;

  constructor(
    readonly network: CausalLM,
    /** the backend the model created and must dispose (undefined: the caller's) */
    private readonly ownedBackend: KernelBackend | undefined,
  ) {}

  get config(): ModelConfig {
    return this.network.config;
  }

  get backendName(): string {
    return this.network.backend.name;
  }

  get hasBf16Batches(): boolean {
    return this.network.backend.hasBf16Batches;
  }

  /** a ModelRunner over a KV cache on the network's backend */
  createRunner(spec: RunnerSpec): RunnerHandle {
    const c = this.network.config;
    const kv = this.network.backend.allocateKvCache({
      numLayers: c.numLayers,
      kvDim: c.numKvHeads * c.headDim,
      numBlocks: spec.numKvBlocks,
      blockSize: spec.blockSize,
      dtype: spec.kvCacheType,
    });
    return { runner: new ModelRunner(this.network, kv), dispose: () => kv.dispose() };
  }

  close(): Promise<void> {
    this.network.dispose();
    this.ownedBackend?.dispose();
    return Promise.resolve();
  }
}
