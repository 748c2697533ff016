import { invariant, InvalidRequestError } from '../errors/engine-error.js';

const NONE = -1;

/**
 * The physical KV blocks as bookkeeping: ref counts, a free list and the prefix-cache index.
 * Owns no memory; block i names blocks i of the KV storage.
 *
 * A block with ref count 0 is free. Free blocks sit in an LRU list: `allocate` takes the least
 * recently freed one. A free block that still carries a hash (its tokens' K/V are intact) stays
 * findable by `findCachedBlock` and comes back to life with `incRef`, until `allocate` evicts it.
 */
export class BlockPool {
  /** [numBlocks] holders of each block; 0 = free */
  private readonly refCounts: Int32Array;
  /** [numBlocks] free-list links; NONE at the ends and for blocks in use */
  private readonly prevFree: Int32Array;
  private readonly nextFree: Int32Array;
  /** least recently freed block: the next to allocate */
  private headFree = NONE;
  /** most recently freed block */
  private tailFree = NONE;
  private numFree = 0;
  /** [numBlocks] prefix-cache hash of each full block that is registered */
  private readonly hashes: (string | undefined)[];
  private readonly blockByHash = new Map<string, number>();

  constructor(
    readonly numBlocks: number,
    /** token slots per block */
    readonly blockSize: number,
  ) {
    for (const [name, value] of [['numBlocks', numBlocks], ['blockSize', blockSize]] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new InvalidRequestError('INVALID_ARGUMENT', `${name} must be a positive integer (got ${value})`);
      }
    }
    this.refCounts = new Int32Array(numBlocks);
    this.prevFree = new Int32Array(numBlocks).fill(NONE);
    this.nextFree = new Int32Array(numBlocks).fill(NONE);
    this.hashes = new Array<string | undefined>(numBlocks).fill(undefined);
    for (let blockId = 0; blockId < numBlocks; blockId++) this.pushFree(blockId);
  }

  /** free blocks, cached or not: what `allocate` can hand out */
  get numFreeBlocks(): number {
    return this.numFree;
  }

  /** blocks registered in the prefix cache, in use or free */
  get numCachedBlocks(): number {
    return this.blockByHash.size;
  }

  /** fraction of blocks in use, 0..1 (free cached blocks count as free) */
  get usage(): number {
    return 1 - this.numFree / this.numBlocks;
  }

  /**
   * Takes the least recently freed block, evicting its prefix-cache entry, with ref count 1.
   * Null when every block is in use: an expected outcome the caller plans around.
   */
  allocate(): number | null {
    const blockId = this.headFree;
    if (blockId === NONE) return null;
    this.unlinkFree(blockId);
    const hash = this.hashes[blockId];
    if (hash !== undefined) {
      this.blockByHash.delete(hash);
      this.hashes[blockId] = undefined;
    }
    this.refCounts[blockId] = 1;
    return blockId;
  }

  /** One more holder; revives a free cached block (a prefix-cache hit). */
  incRef(blockId: number): void {
    this.checkBlockId(blockId);
    if (this.refCounts[blockId] === 0) {
      invariant(this.hashes[blockId] !== undefined, `block ${blockId} is free and uncached: allocate it instead`);
      this.unlinkFree(blockId);
    }
    this.refCounts[blockId]!++;
  }

  /** One holder fewer; at zero the block joins the free list, keeping its cached contents. */
  free(blockId: number): void {
    this.checkBlockId(blockId);
    invariant(this.refCounts[blockId]! > 0, `block ${blockId} freed more often than allocated`);
    if (--this.refCounts[blockId]! === 0) this.pushFree(blockId);
  }

  refCount(blockId: number): number {
    this.checkBlockId(blockId);
    return this.refCounts[blockId]!;
  }

  blockHash(blockId: number): string | undefined {
    this.checkBlockId(blockId);
    return this.hashes[blockId];
  }

  /**
   * Registers a full, computed block under `hash`. False when another block already holds that
   * hash (two requests computed the same prefix); this block then stays unregistered.
   */
  cacheBlock(blockId: number, hash: string): boolean {
    this.checkBlockId(blockId);
    invariant(this.refCounts[blockId]! > 0, `block ${blockId} is free; only held blocks are registered`);
    invariant(this.hashes[blockId] === undefined, `block ${blockId} is already registered`);
    if (this.blockByHash.has(hash)) return false;
    this.hashes[blockId] = hash;
    this.blockByHash.set(hash, blockId);
    return true;
  }

  /** the block registered under `hash`, in use or free, if any */
  findCachedBlock(hash: string): number | undefined {
    return this.blockByHash.get(hash);
  }

  /** Every broken internal rule, as messages; empty when consistent. O(numBlocks); for tests. */
  listInvariantViolations(): string[] {
    const violations: string[] = [];
    const isInFreeList = new Uint8Array(this.numBlocks);
    let count = 0;
    let prev = NONE;
    for (let blockId = this.headFree; blockId !== NONE; blockId = this.nextFree[blockId]!) {
      if (isInFreeList[blockId]) {
        violations.push(`block ${blockId} is in the free list twice`);
        break;
      }
      isInFreeList[blockId] = 1;
      count++;
      if (this.prevFree[blockId] !== prev) violations.push(`free list: block ${blockId} has a wrong back link`);
      prev = blockId;
    }
    if (prev !== this.tailFree) violations.push('free list: tail does not end the list');
    if (count !== this.numFree) violations.push(`free list holds ${count} blocks, numFreeBlocks says ${this.numFree}`);
    for (let blockId = 0; blockId < this.numBlocks; blockId++) {
      const refCount = this.refCounts[blockId]!;
      if (refCount < 0) violations.push(`block ${blockId} has ref count ${refCount}`);
      if (refCount > 0 && isInFreeList[blockId]) violations.push(`block ${blockId} is both free and referenced (${refCount})`);
      if (refCount === 0 && !isInFreeList[blockId]) violations.push(`block ${blockId} has ref count 0 but is not free`);
      const hash = this.hashes[blockId];
      if (hash !== undefined && this.blockByHash.get(hash) !== blockId) {
        violations.push(`block ${blockId} carries a hash that maps elsewhere`);
      }
    }
    for (const [hash, blockId] of this.blockByHash) {
      if (this.hashes[blockId] !== hash) violations.push(`hash index points at block ${blockId}, which carries another hash`);
    }
    return violations;
  }

  private checkBlockId(blockId: number): void {
    invariant(Number.isInteger(blockId) && blockId >= 0 && blockId < this.numBlocks, `no block ${blockId}`);
  }

  private pushFree(blockId: number): void {
    this.prevFree[blockId] = this.tailFree;
    this.nextFree[blockId] = NONE;
    if (this.tailFree === NONE) this.headFree = blockId;
    else this.nextFree[this.tailFree] = blockId;
    this.tailFree = blockId;
    this.numFree++;
  }

  private unlinkFree(blockId: number): void {
    const prev = this.prevFree[blockId]!;
    const next = this.nextFree[blockId]!;
    if (prev === NONE) this.headFree = next;
    else this.nextFree[prev] = next;
    if (next === NONE) this.tailFree = prev;
    else this.prevFree[next] = prev;
    this.prevFree[blockId] = NONE;
    this.nextFree[blockId] = NONE;
    this.numFree--;
  }
}
