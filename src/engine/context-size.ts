import { totalmem } from 'node:os';
import { InvalidRequestError } from '../errors/engine-error.js';
import type { KvCacheType } from '../kernels/kernel-backend.js';
import { kvRowBytes } from '../kernels/kv-cache-type.js';

/** what the context-size check reads from a model's config */
export interface ContextShape {
  /** the context the model was trained for (GGUF `<arch>.context_length`) */
  readonly contextLength: number;
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly headDim: number;
}

/** bytes of K and V cache per token of context */
export function kvBytesPerToken(shape: Omit<ContextShape, 'contextLength'>, kvCacheType: KvCacheType): number {
  return shape.numLayers * 2 * kvRowBytes(kvCacheType, shape.numKvHeads * shape.headDim);
}

/**
 * A context size is a positive integer, at most the model's trained context (vLLM's rule; llama.cpp
 * only warns, and the model's output past it is not worth having), whose KV cache for one full
 * sequence fits in this machine's memory. Checked at load, so `--context-size 1000000000` is a
 * one-line error rather than a RangeError from a typed-array allocation.
 */
export function checkContextSize(contextSize: number, shape: ContextShape, kvCacheType: KvCacheType): void {
  if (!Number.isInteger(contextSize) || contextSize < 1) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `context size must be a positive integer (got ${contextSize})`);
  }
  if (contextSize > shape.contextLength) {
    throw new InvalidRequestError(
      'INVALID_ARGUMENT',
      `context size ${contextSize} exceeds the model's trained context of ${shape.contextLength} tokens`,
    );
  }
  const kvBytes = contextSize * kvBytesPerToken(shape, kvCacheType);
  const memBytes = totalmem();
  if (kvBytes > memBytes) {
    const gib = (n: number): string => `${(n / 2 ** 30).toFixed(1)} GiB`;
    throw new InvalidRequestError(
      'INVALID_ARGUMENT',
      `a context of ${contextSize} tokens needs ${gib(kvBytes)} of KV cache; this machine has ${gib(memBytes)} of memory`,
    );
  }
}
