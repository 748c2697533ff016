import type { TensorShard } from './blocks/tensor-shard.js';

/**
 * Which part of a model one worker of a parallel group holds (src/parallel/): the layers of its
 * pipeline stage (shardLayers), each with its tensor-parallel share of the heads and FFN features
 * (`tensor`, the blocks' TensorShard); stage 0 also the token embedding, the last stage the output
 * norm and head (its TP rank's vocabulary rows where the vocabulary divides among the ranks). A
 * model loaded without one holds all of it.
 */
export interface ModelShard {
  /** the stage's split of every layer among its tensor-parallel workers; undefined: whole layers */
  readonly tensor?: TensorShard;
  readonly stage: number;
  readonly numStages: number;
}

/** Layers [first, end) of pipeline stage `stage` of `numStages`: contiguous, sizes differing by one at most (the earlier stages take the extra). */
export function stageLayers(numLayers: number, stage: number, numStages: number): { readonly first: number; readonly end: number } {
  const base = Math.floor(numLayers / numStages);
  const extra = numLayers % numStages;
  const first = stage * base + Math.min(stage, extra);
  return { first, end: first + base + (stage < extra ? 1 : 0) };
}

/** the layers `shard` holds of a model of `numLayers` (all of them without a shard) */
export function shardLayers(numLayers: number, shard: ModelShard | undefined): { readonly first: number; readonly end: number } {
  return shard ? stageLayers(numLayers, shard.stage, shard.numStages) : { first: 0, end: numLayers };
}
