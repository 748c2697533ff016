import { InvalidRequestError } from '../errors/engine-error.js';
import type { KvCacheType } from '../kernels/kernel-backend.js';
import { KV_CACHE_TYPES } from '../kernels/kv-cache-type.js';
import type { PlanConfig } from './plan-config.js';

/** A weight file the planner may choose, with the name its table gives the format. */
export interface WeightCandidate {
  readonly path: string;
  readonly format: string;
}

/** Every KV cache type LoadModelOptions.kvCacheType accepts */
export { KV_CACHE_TYPES };

/** Concurrent requests tried per config: one (minimum latency) up to a busy server's batch. */
export const DEFAULT_BATCH_SIZES: readonly number[] = [1, 4, 8, 16];

export interface CandidateSpaceOptions {
  readonly weights: readonly WeightCandidate[];
  /** the cores the workers share (os.availableParallelism()) */
  readonly numCores: number;
  /** tensor-parallel degrees to try (default: the powers of two up to numCores) */
  readonly tensorParallel?: readonly number[];
  /** pipeline-parallel degrees to try (default: the powers of two up to numCores) */
  readonly pipelineParallel?: readonly number[];
  readonly batchSizes?: readonly number[];
  readonly kvCacheTypes?: readonly KvCacheType[];
}

/**
 * The configs the planner measures: every weight file × KV cache type × TP × PP with
 * TP · PP ≤ numCores × batch size, batch sizes innermost (one model load serves them all). Each
 * worker gets an equal share of the cores, ⌊numCores / (TP · PP)⌋ threads: fewer threads than
 * cores only leaves cores idle, so thread counts below that are not tried.
 */
export function enumerateCandidates(options: CandidateSpaceOptions): PlanConfig[] {
  const { numCores } = options;
  if (!Number.isInteger(numCores) || numCores < 1) throw new InvalidRequestError('INVALID_ARGUMENT', `numCores must be a positive integer (got ${numCores})`);
  const powersOfTwo = [1, 2, 4, 8, 16, 32, 64, 128].filter((n) => n <= numCores);
  const tpDegrees = checkedDegrees(options.tensorParallel ?? powersOfTwo, 'tensor-parallel', numCores);
  const ppDegrees = checkedDegrees(options.pipelineParallel ?? powersOfTwo, 'pipeline-parallel', numCores);
  const batchSizes = checkedDegrees(options.batchSizes ?? DEFAULT_BATCH_SIZES, 'batch size', Number.MAX_SAFE_INTEGER);
  const kvCacheTypes = options.kvCacheTypes ?? KV_CACHE_TYPES;
  if (options.weights.length === 0) throw new InvalidRequestError('INVALID_ARGUMENT', 'the planner needs at least one weight file');
  const configs: PlanConfig[] = [];
  for (const weights of options.weights) {
    for (const kvCacheType of kvCacheTypes) {
      for (const tensorParallel of tpDegrees) {
        for (const pipelineParallel of ppDegrees) {
          const workers = tensorParallel * pipelineParallel;
          if (workers > numCores) continue;
          const threadsPerWorker = Math.floor(numCores / workers);
          for (const maxNumSeqs of batchSizes) {
            configs.push({ modelPath: weights.path, format: weights.format, tensorParallel, pipelineParallel, threadsPerWorker, maxNumSeqs, kvCacheType });
          }
        }
      }
    }
  }
  if (configs.length === 0) throw new InvalidRequestError('INVALID_ARGUMENT', `no TP x PP combination fits ${numCores} cores`);
  return configs;
}

/** The values, distinct, in order; each must be an integer from 1 to max (InvalidRequestError naming `what` otherwise). */
function checkedDegrees(values: readonly number[], what: string, max: number): number[] {
  if (values.length === 0) throw new InvalidRequestError('INVALID_ARGUMENT', `no ${what} to try`);
  const bad = values.find((v) => !Number.isInteger(v) || v < 1 || v > max);
  if (bad !== undefined) {
    const range = max === Number.MAX_SAFE_INTEGER ? 'at least 1' : `from 1 to ${max} (the cores)`;
    throw new InvalidRequestError('INVALID_ARGUMENT', `${what} must be an integer ${range} (got ${bad})`);
  }
  return [...new Set(values)];
}
