import type { KvCacheType } from '../kernels/kernel-backend.js';

/**
 * One point of the planner's sweep: a weight file, how it is spread over workers, how many
 * requests run at once, and the KV cache's element type. What `peregrine serve` needs to run it
 * (with the transport, which the planner holds fixed).
 */
export interface PlanConfig {
  /** the GGUF file the weights come from */
  readonly modelPath: string;
  /** the weight format as the table names it: 'reference' for --model, a format name, or a candidate file's name */
  readonly format: string;
  readonly tensorParallel: number;
  readonly pipelineParallel: number;
  /** kernel threads of each worker (of the one process when tensorParallel · pipelineParallel = 1) */
  readonly threadsPerWorker: number;
  /** requests generating at once: the batch the measurement runs and `serve --max-num-seqs` */
  readonly maxNumSeqs: number;
  readonly kvCacheType: KvCacheType;
}

/** The workers a config runs on: tensorParallel · pipelineParallel. */
export function numWorkers(config: Pick<PlanConfig, 'tensorParallel' | 'pipelineParallel'>): number {
  return config.tensorParallel * config.pipelineParallel;
}
