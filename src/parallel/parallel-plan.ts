import { InvalidRequestError } from '../errors/engine-error.js';
import type { ModelConfig } from '../models/model-config.js';
import type { ParallelPlan } from './parallel-executor.js';

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
