import type { KvView } from './kernel-backend.js';

/**
 * The KV cache tensors of every layer: `numBlocks` blocks of `blockSize` token slots.
 * Which blocks a sequence owns is bookkeeping kept elsewhere (a block table per sequence).
 */
export class KvStorage {
  /** per layer: [numBlocks * blockSize, kvDim] f16 bits */
  readonly k: Uint16Array[];
  readonly v: Uint16Array[];

  constructor(
    readonly numLayers: number,
    readonly kvDim: number,
    readonly numBlocks: number,
    readonly blockSize: number,
  ) {
    const slots = numBlocks * blockSize * kvDim;
    this.k = Array.from({ length: numLayers }, () => new Uint16Array(slots));
    this.v = Array.from({ length: numLayers }, () => new Uint16Array(slots));
  }

  get numSlots(): number {
    return this.numBlocks * this.blockSize;
  }

  get byteSize(): number {
    return this.numLayers * 2 * this.numSlots * this.kvDim * 2;
  }

  view(layer: number, blockTable: Int32Array): KvView {
    return { k: this.k[layer]!, v: this.v[layer]!, blockTable, blockSize: this.blockSize };
  }

  /** slot of logical position `pos` for a sequence with this block table */
  slotOf(blockTable: Int32Array, pos: number): number {
    return blockTable[Math.floor(pos / this.blockSize)]! * this.blockSize + (pos % this.blockSize);
  }
}
