import { InvalidRequestError } from '../errors/engine-error.js';
import { DisposedError } from './disposed-error.js';
import type { KvCache, KvCacheSpec, KvLayerHandle } from './kernel-backend.js';
import { checkKvCacheType, kvRowBytes } from './kv-cache-type.js';

/** token slots per KV block */
export const KV_BLOCK_SIZE = 16;

/**
 * A CPU backend's KV cache layer: K and V as host typed arrays, [numSlots, kvDim] each (f16 and
 * bf16 as raw bits, fp8 as E4M3 bytes; q8_0 as numSlots · kvDim / 32 blocks of 34 bytes, so value
 * i of the flat array is in block i / 32). What the reference and native backends' storeKv and
 * attention read behind a KvLayerHandle.
 */
export type HostKvLayer =
  | { readonly dtype: 'f16' | 'bf16'; readonly k: Uint16Array; readonly v: Uint16Array; readonly blockSize: number }
  | { readonly dtype: 'fp8' | 'q8_0'; readonly k: Uint8Array; readonly v: Uint8Array; readonly blockSize: number }
  | { readonly dtype: 'f32'; readonly k: Float32Array; readonly v: Float32Array; readonly blockSize: number };

/** A host layer with one sequence's block table (logical block → physical block): what the reference attention walks. */
export type HostKvView = HostKvLayer & { readonly blockTable: Int32Array };

/**
 * The KV cache of the CPU backends: every layer's K and V in ordinary typed arrays (JavaScript
 * memory: dispose() drops them for the garbage collector; no native memory is involved).
 */
export class HostKvCache implements KvCache {
  readonly numSlots: number;
  readonly byteSize: number;
  private layers: HostKvLayer[];
  private isDisposed = false;

  constructor(readonly spec: KvCacheSpec) {
    const { numLayers, kvDim, numBlocks, blockSize, dtype } = spec;
    for (const [key, value] of Object.entries({ numLayers, kvDim, numBlocks, blockSize })) {
      if (!Number.isSafeInteger(value) || value < 1) throw new InvalidRequestError('INVALID_ARGUMENT', `KV cache ${key} must be a positive integer, got ${value}`);
    }
    checkKvCacheType(dtype, kvDim);
    this.numSlots = numBlocks * blockSize;
    const bytes = this.numSlots * kvRowBytes(dtype, kvDim);
    this.byteSize = numLayers * 2 * bytes;
    this.layers = Array.from({ length: numLayers }, (): HostKvLayer => {
      switch (dtype) {
        case 'f32':
          return { dtype, k: new Float32Array(bytes / 4), v: new Float32Array(bytes / 4), blockSize };
        case 'f16':
        case 'bf16':
          return { dtype, k: new Uint16Array(bytes / 2), v: new Uint16Array(bytes / 2), blockSize };
        case 'fp8':
        case 'q8_0':
          return { dtype, k: new Uint8Array(bytes), v: new Uint8Array(bytes), blockSize };
      }
    });
  }

  layer(layer: number): KvLayerHandle & HostKvLayer {
    if (this.isDisposed) throw new DisposedError('KV cache');
    const found = this.layers[layer];
    if (!found) throw new InvalidRequestError('INVALID_ARGUMENT', `KV cache layer ${layer} out of range [0, ${this.layers.length})`);
    return found;
  }

  dispose(): void {
    this.isDisposed = true;
    this.layers = [];
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
