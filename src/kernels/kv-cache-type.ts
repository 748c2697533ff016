import { InvalidRequestError } from '../errors/engine-error.js';
import type { KvCacheType } from './kernel-backend.js';

/**
 * The KV cache element types, in the order of their native codes (native/kernels.h KvType):
 * - f32: 4 bytes a value, attention in f32 throughout;
 * - f16: 2 bytes, llama.cpp's default (Q is rounded to f16 before Q·K, as its f16 K·Q product);
 * - bf16: 2 bytes, f16's range of f32 with 8 significant bits (llama.cpp's `-ctk bf16`);
 * - fp8: 1 byte, OCP E4M3 per value with no scale (nearest even, saturating at ±448; llama.cpp
 *   has no fp8 cache). K and V of real models stay far inside ±448 after rope, and E4M3's relative
 *   step (2^-4 half-ulp) is the same in every binade, so a scale would buy nothing but range;
 * - q8_0: 34 bytes per 32 values, llama.cpp's block (an f16 scale amax/127, then 32 int8), over
 *   each token's kvDim values (so kvDim must be a multiple of 32).
 * With bf16, fp8 and q8_0 the attention kernels widen K and V to f32 block by block and attend
 * in f32 (Q is not rounded).
 */
export const KV_CACHE_TYPES: readonly KvCacheType[] = ['f32', 'f16', 'bf16', 'fp8', 'q8_0'];

/** values per q8_0 block */
export const Q8_0_BLOCK = 32;
/** bytes per q8_0 block: an f16 scale, then 32 int8 */
export const Q8_0_BLOCK_BYTES = 34;

export function isKvCacheType(value: unknown): value is KvCacheType {
  return (KV_CACHE_TYPES as readonly unknown[]).includes(value);
}

/** the native addon's code for `type` (native/kernels.h KvType) */
export function kvTypeCode(type: KvCacheType): number {
  return KV_CACHE_TYPES.indexOf(type);
}

/** bytes one token's K (or V) takes: kvDim values in `type` */
export function kvRowBytes(type: KvCacheType, kvDim: number): number {
  switch (type) {
    case 'f32':
      return kvDim * 4;
    case 'f16':
    case 'bf16':
      return kvDim * 2;
    case 'fp8':
      return kvDim;
    case 'q8_0':
      return Math.ceil(kvDim / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
  }
}

/**
 * Throws unless `type` is a KV cache type a cache of kvDim values per token can hold: a known
 * name, and for q8_0 a kvDim that is whole blocks of 32 (true of every real model's numKvHeads · headDim).
 */
export function checkKvCacheType(type: unknown, kvDim: number): asserts type is KvCacheType {
  if (!isKvCacheType(type)) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `KV cache type must be one of ${KV_CACHE_TYPES.join(', ')} (got ${String(type)})`);
  }
  if (type === 'q8_0' && kvDim % Q8_0_BLOCK !== 0) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `a q8_0 KV cache needs K/V rows of whole 32-value blocks; this model's are ${kvDim} values (numKvHeads · headDim)`);
  }
}
