import type { KvCacheType, KvLayer } from './kernel-backend.js';

/** token slots per KV block */
export const KV_BLOCK_SIZE = 16;

/**
 * The KV cache tensors of every layer: `numBlocks` blocks of `blockSize` token slots.
 * Which blocks a sequence owns is bookkeeping kept elsewhere (a block table per sequence).
 */
export class KvStorage {
  /** per layer: [numBlocks * blockSize, kvDim] in `dtype` (f16 as raw bits) */
  readonly k: (Uint16Array | Float32Array)[];
  readonly v: (Uint16Array | Float32Array)[];

  constructor(
    readonly numLayers: number,
    readonly kvDim: number,
    readonly numBlocks: number,
    readonly blockSize: number,
    readonly dtype: KvCacheType = 'f16',
  ) {
    const slots = numBlocks * blockSize * kvDim;
    const make = () => (dtype === 'f16' ? new Uint16Array(slots) : new Float32Array(slots));
    this.k = Array.from({ length: numLayers }, make);
    this.v = Array.from({ length: numLayers }, make);
  }

  get numSlots(): number {
    return this.numBlocks * this.blockSize;
  }

  get byteSize(): number {
    return this.numLayers * 2 * this.numSlots * this.kvDim * (this.dtype === 'f16' ? 2 : 4);
  }

  layer(layer: number): KvLayer {
    return { dtype: this.dtype, k: this.k[layer]!, v: this.v[layer]!, blockSize: this.blockSize } as KvLayer;
  }

  /** slot of logical position `pos` for a sequence with this block table */
  slotOf(blockTable: Int32Array, pos: number): number {
    return blockTable[Math.floor(pos / this.blockSize)]! * this.blockSize + (pos % this.blockSize);
  }
}
