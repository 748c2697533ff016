import { InvalidRequestError, ModelLoadError } from '../errors/engine-error.js';
import { MetadataReader, type GgufFile } from '../formats/gguf/index.js';
import { parseLlamaConfig } from '../models/llama.js';
import type { ModelConfig } from '../models/model-config.js';
import { parseQwen2Config } from '../models/qwen2.js';
import { parseQwen3Config } from '../models/qwen3.js';
import type { ParallelPlan } from './parallel-executor.js';

/**
 * The architectures a ParallelExecutor runs: LlamaModel's family (Llama's layers, their q/k/v
 * biases and q/k norms), by GGUF `general.architecture`. The others have layers of their own
 * (Gemma's extra norms, Phi-3's stacked q/k/v) that the sharded forward does not compose yet.
 */
const PARALLEL_ARCHITECTURES = new Map<string, (file: GgufFile) => ModelConfig>([
  ['llama', parseLlamaConfig],
  ['qwen2', parseQwen2Config],
  ['qwen3', parseQwen3Config],
]);

/** The whole model's config, for an architecture tensor and pipeline parallelism support. */
export function parseParallelConfig(file: GgufFile): ModelConfig {
  const arch = new MetadataReader(file.metadata, file.path).string('general.architecture');
  const parse = PARALLEL_ARCHITECTURES.get(arch);
  if (!parse) {
    throw new ModelLoadError(
      'UNSUPPORTED_ARCHITECTURE',
      `${file.path}: tensor/pipeline parallelism does not support architecture '${arch}' yet (supported: ${[...PARALLEL_ARCHITECTURES.keys()].join(', ')})`,
    );
  }
  return parse(file);
}

/** Refuses a plan the model cannot be split by, naming what does not divide. */
export function validatePlan(plan: ParallelPlan, c: ModelConfig): void {
  const { tensorParallel: tp, pipelineParallel: pp } = plan;
  for (const [name, value] of [['tensorParallel', tp], ['pipelineParallel', pp]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new InvalidRequestError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${value}`);
  }
  if (tp * pp > 64) throw new InvalidRequestError('INVALID_ARGUMENT', `tensorParallel × pipelineParallel is ${tp * pp} workers; at most 64`);
  const divisions: [string, number][] = [['attention heads (numHeads)', c.numHeads], ['KV heads (numKvHeads)', c.numKvHeads], ['FFN features (ffnSize)', c.ffnSize]];
  for (const [what, count] of divisions) {
    if (count % tp !== 0) throw new InvalidRequestError('INVALID_ARGUMENT', `tensorParallel ${tp} does not divide the model's ${count} ${what}`);
  }
  if (c.numLayers < pp) throw new InvalidRequestError('INVALID_ARGUMENT', `pipelineParallel ${pp} exceeds the model's ${c.numLayers} layers (each stage needs one at least)`);
}

/** Layers [first, end) of pipeline stage `stage` of `numStages`: contiguous, sizes differing by one at most (the earlier stages take the extra). */
export function stageLayers(numLayers: number, stage: number, numStages: number): { readonly first: number; readonly end: number } {
  const base = Math.floor(numLayers / numStages);
  const extra = numLayers % numStages;
  const first = stage * base + Math.min(stage, extra);
  return { first, end: first + base + (stage < extra ? 1 : 0) };
}
