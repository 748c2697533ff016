import { InvalidRequestError } from '../errors/engine-error.js';
import { KV_BLOCK_SIZE } from '../kernels/host-kv-cache.js';
import type { KvCacheType } from '../kernels/kernel-backend.js';
import { KV_CACHE_TYPES, Q8_0_BLOCK } from '../kernels/kv-cache-type.js';
import { kvBytesPerToken, type ContextShape } from './context-size.js';

/** how many sequences of a given context a KV cache of a given size holds, in one KV cache type */
export interface KvCapacity {
  readonly kvCacheType: KvCacheType;
  /** K and V bytes per token over all layers */
  readonly bytesPerToken: number;
  /** full-context sequences that fit at once: memory / (context rounded up to whole KV blocks · bytesPerToken) */
  readonly numSequences: number;
}

/**
 * For each KV cache type this model can use (q8_0 needs K/V rows of whole 32-value blocks), the
 * sequences of `contextSize` tokens whose KV cache fits in `memoryBytes` at once: what sizes a
 * server's --max-num-seqs. A sequence holds whole blocks of KV_BLOCK_SIZE slots, as the engine
 * allocates them.
 */
export function kvCapacity(shape: Omit<ContextShape, 'contextLength'>, memoryBytes: number, contextSize: number): KvCapacity[] {
  if (!(memoryBytes > 0) || !Number.isFinite(memoryBytes)) throw new InvalidRequestError('INVALID_ARGUMENT', `KV memory must be a positive number of bytes (got ${memoryBytes})`);
  if (!Number.isInteger(contextSize) || contextSize < 1) throw new InvalidRequestError('INVALID_ARGUMENT', `context size must be a positive integer (got ${contextSize})`);
  const slotsPerSequence = Math.ceil(contextSize / KV_BLOCK_SIZE) * KV_BLOCK_SIZE;
  const kvDim = shape.numKvHeads * shape.headDim;
  return KV_CACHE_TYPES.filter((t) => t !== 'q8_0' || kvDim % Q8_0_BLOCK === 0).map((kvCacheType) => {
    const bytesPerToken = kvBytesPerToken(shape, kvCacheType);
    return { kvCacheType, bytesPerToken, numSequences: Math.floor(memoryBytes / (slotsPerSequence * bytesPerToken)) };
  });
}
