import { InvalidRequestError } from '../errors/engine-error.js';
import { DisposedError } from './disposed-error.js';
import type { KvCache, KvCacheSpec, KvLayerHandle } from './kernel-backend.js';

/** token slots per KV block */
export const KV_BLOCK_SIZE = 16;

/**
 * A CPU backend's KV cache layer: K and V as host typed arrays, [numSlots, kvDim] each (f16 as raw
 * bits). What the reference and native backends' storeKv and attention read behind a KvLayerHandle.
 */
export type HostKvLayer =
  | { readonly dtype: 'f16'; readonly k: Uint16Array; readonly v: Uint16Array; readonly blockSize: number }
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
    if (dtype !== 'f16' && dtype !== 'f32') throw new InvalidRequestError('INVALID_ARGUMENT', `KV cache type must be f16 or f32, got ${String(dtype)}`);
    this.numSlots = numBlocks * blockSize;
    this.byteSize = numLayers * 2 * this.numSlots * kvDim * (dtype === 'f16' ? 2 : 4);
    const size = this.numSlots * kvDim;
    this.layers = Array.from({ length: numLayers }, (): HostKvLayer =>
      dtype === 'f16'
        ? { dtype, k: new Uint16Array(size), v: new Uint16Array(size), blockSize }
        : { dtype, k: new Float32Array(size), v: new Float32Array(size), blockSize },
    );
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
