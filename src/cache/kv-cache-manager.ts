import { invariant } from '../errors/engine-error.js';
import { hashBlock } from './block-hash.js';
import { BlockPool } from './block-pool.js';

/** Full blocks of a request's leading tokens whose K/V are already in the cache. */
export interface CachedPrefix {
  /** tokens covered by `blockIds`: a multiple of the block size, always below the request's length */
  readonly numCachedTokens: number;
  readonly blockIds: readonly number[];
  /** hash of each block in `blockIds` */
  readonly blockHashes: readonly string[];
}

export const NO_CACHED_PREFIX: CachedPrefix = Object.freeze({
  numCachedTokens: 0,
  blockIds: Object.freeze([]),
  blockHashes: Object.freeze([]),
});

export interface KvCacheManagerOptions {
  readonly numBlocks: number;
  /** token slots per block */
  readonly blockSize: number;
  /** reuse the K/V of full blocks whose token prefix was computed before (default true) */
  readonly enablePrefixCaching?: boolean;
}

export interface KvCacheStats {
  /** fraction of blocks in use, 0..1 */
  readonly usage: number;
  readonly numFreeBlocks: number;
  /** tokens of requests admitted so far (lookups that led to an allocation) */
  readonly numPrefixQueryTokens: number;
  /** of those, tokens found in the prefix cache */
  readonly numPrefixHitTokens: number;
}

/** One request's blocks. */
interface RequestBlocks {
  /** logical block i → physical block */
  readonly blockIds: number[];
  /** hash of each leading block whose tokens are all computed; the chain continues from the last */
  readonly blockHashes: string[];
  /** tokens that have a slot: computed ones plus those scheduled this step */
  numSlotTokens: number;
}

/**
 * Per-request block tables over one `BlockPool`, with prefix caching. Plain bookkeeping: the
 * model runner turns `blockTable(requestId)` into attention reads and writes.
 *
 * A step goes: `findCachedPrefix` for a new request, `allocateSlots` (plans, then commits or
 * returns null changing nothing), the forward pass, then `cacheComputedBlocks` once the tokens'
 * K/V are written. Blocks enter the prefix cache only after their K/V exist, so a request aborted
 * or preempted before its forward pass never leaves a cache entry pointing at unwritten slots.
 */
export class KvCacheManager {
  readonly pool: BlockPool;
  readonly blockSize: number;
  readonly isPrefixCachingEnabled: boolean;
  private readonly requests = new Map<string, RequestBlocks>();
  private numPrefixQueryTokens = 0;
  private numPrefixHitTokens = 0;

  constructor(options: KvCacheManagerOptions) {
    this.pool = new BlockPool(options.numBlocks, options.blockSize);
    this.blockSize = options.blockSize;
    this.isPrefixCachingEnabled = options.enablePrefixCaching ?? true;
  }

  get numFreeBlocks(): number {
    return this.pool.numFreeBlocks;
  }

  /** fraction of blocks in use, 0..1 */
  get usage(): number {
    return this.pool.usage;
  }

  get stats(): KvCacheStats {
    return {
      usage: this.pool.usage,
      numFreeBlocks: this.pool.numFreeBlocks,
      numPrefixQueryTokens: this.numPrefixQueryTokens,
      numPrefixHitTokens: this.numPrefixHitTokens,
    };
  }

  /** blocks needed to hold `numTokens` tokens */
  numBlocksFor(numTokens: number): number {
    return Math.ceil(numTokens / this.blockSize);
  }

  /**
   * The longest run of leading full blocks of `tokenIds` already in the cache. At least one token
   * is always left out, so the request computes logits for its last token. Changes nothing.
   */
  findCachedPrefix(tokenIds: readonly number[]): CachedPrefix {
    if (!this.isPrefixCachingEnabled) return NO_CACHED_PREFIX;
    const maxNumBlocks = Math.floor((tokenIds.length - 1) / this.blockSize);
    const blockIds: number[] = [];
    const blockHashes: string[] = [];
    let parentHash: string | undefined;
    for (let i = 0; i < maxNumBlocks; i++) {
      const hash = hashBlock(parentHash, tokenIds.slice(i * this.blockSize, (i + 1) * this.blockSize));
      const blockId = this.pool.findCachedBlock(hash);
      if (blockId === undefined) break;
      blockIds.push(blockId);
      blockHashes.push(hash);
      parentHash = hash;
    }
    if (blockIds.length === 0) return NO_CACHED_PREFIX;
    return { numCachedTokens: blockIds.length * this.blockSize, blockIds, blockHashes };
  }

  /**
   * Gives `requestId` slots for `numNewTokens` more tokens of `tokenIds` (all its known tokens).
   * A new request starts after `prefix`, sharing its blocks. Returns the blocks added, or null
   * (changing nothing) when the pool cannot supply them; the scheduler then preempts or waits.
   */
  allocateSlots(
    requestId: string,
    tokenIds: readonly number[],
    numNewTokens: number,
    prefix: CachedPrefix = NO_CACHED_PREFIX,
  ): readonly number[] | null {
    invariant(Number.isInteger(numNewTokens) && numNewTokens >= 0, `numNewTokens ${numNewTokens}`);
    const existing = this.requests.get(requestId);
    invariant(existing === undefined || prefix.blockIds.length === 0, `${requestId} already has blocks; no prefix applies`);
    const numSlotTokens = (existing?.numSlotTokens ?? prefix.numCachedTokens) + numNewTokens;
    invariant(numSlotTokens <= tokenIds.length, `${requestId}: slots for ${numSlotTokens} of ${tokenIds.length} tokens`);
    const numHeldBlocks = existing?.blockIds.length ?? prefix.blockIds.length;
    const numAddedBlocks = Math.max(0, this.numBlocksFor(numSlotTokens) - numHeldBlocks);

    // plan: reviving a free cached prefix block takes it off the free list too
    let numRevivedBlocks = 0;
    for (let i = 0; i < prefix.blockIds.length; i++) {
      const blockId = prefix.blockIds[i]!;
      invariant(this.pool.blockHash(blockId) === prefix.blockHashes[i], `prefix block ${blockId} was evicted since the lookup`);
      if (this.pool.refCount(blockId) === 0) numRevivedBlocks++;
    }
    if (numAddedBlocks + numRevivedBlocks > this.pool.numFreeBlocks) return null;

    // commit: hold the prefix first so that allocating cannot evict it
    for (const blockId of prefix.blockIds) this.pool.incRef(blockId);
    const addedBlockIds: number[] = [];
    for (let i = 0; i < numAddedBlocks; i++) {
      const blockId = this.pool.allocate();
      invariant(blockId !== null, 'the plan counted enough free blocks');
      addedBlockIds.push(blockId);
    }
    if (existing) {
      existing.blockIds.push(...addedBlockIds);
      existing.numSlotTokens = numSlotTokens;
    } else {
      this.requests.set(requestId, {
        blockIds: [...prefix.blockIds, ...addedBlockIds],
        blockHashes: [...prefix.blockHashes],
        numSlotTokens,
      });
      this.numPrefixQueryTokens += tokenIds.length;
      this.numPrefixHitTokens += prefix.numCachedTokens;
    }
    return addedBlockIds;
  }

  /**
   * Registers the request's full blocks among its first `numComputedTokens` tokens (whose K/V
   * are now written) in the prefix cache. Call after each forward pass, before `free`.
   */
  cacheComputedBlocks(requestId: string, tokenIds: readonly number[], numComputedTokens: number): void {
    const blocks = this.requests.get(requestId);
    invariant(blocks !== undefined, `${requestId} has no blocks`);
    invariant(numComputedTokens <= blocks.numSlotTokens, `${requestId}: ${numComputedTokens} computed tokens without slots`);
    invariant(numComputedTokens <= tokenIds.length, `${requestId}: ${numComputedTokens} computed of ${tokenIds.length} tokens`);
    if (!this.isPrefixCachingEnabled) return;
    const numFullBlocks = Math.floor(numComputedTokens / this.blockSize);
    for (let i = blocks.blockHashes.length; i < numFullBlocks; i++) {
      const parentHash = i === 0 ? undefined : blocks.blockHashes[i - 1];
      const hash = hashBlock(parentHash, tokenIds.slice(i * this.blockSize, (i + 1) * this.blockSize));
      blocks.blockHashes.push(hash);
      this.pool.cacheBlock(blocks.blockIds[i]!, hash);
    }
  }

  /**
   * Releases every block of `requestId`. Cached blocks stay findable until reallocated; the tail
   * blocks are freed first so they are evicted before the more shareable head. False when the
   * request held no blocks.
   */
  free(requestId: string): boolean {
    const blocks = this.requests.get(requestId);
    if (blocks === undefined) return false;
    for (let i = blocks.blockIds.length - 1; i >= 0; i--) this.pool.free(blocks.blockIds[i]!);
    this.requests.delete(requestId);
    return true;
  }

  hasRequest(requestId: string): boolean {
    return this.requests.has(requestId);
  }

  /** tokens of `requestId` that have a slot (0 when it holds no blocks) */
  numSlotTokens(requestId: string): number {
    return this.requests.get(requestId)?.numSlotTokens ?? 0;
  }

  /** logical block → physical block; a fresh copy */
  blockTable(requestId: string): Int32Array {
    const blocks = this.requests.get(requestId);
    invariant(blocks !== undefined, `${requestId} has no blocks`);
    return Int32Array.from(blocks.blockIds);
  }

  /**
   * Every broken rule, as messages; empty when consistent. Checks the pool, that each block's
   * ref count equals the number of tables holding it (so nothing is both free and held and
   * nothing leaks once every request is freed), and that each table fits its slots. For tests.
   */
  listInvariantViolations(): string[] {
    const violations = this.pool.listInvariantViolations();
    const numHolders = new Int32Array(this.pool.numBlocks);
    for (const [requestId, blocks] of this.requests) {
      const seen = new Set<number>();
      for (const blockId of blocks.blockIds) {
        if (seen.has(blockId)) violations.push(`${requestId} holds block ${blockId} twice`);
        seen.add(blockId);
        numHolders[blockId]!++;
      }
      if (blocks.blockIds.length !== this.numBlocksFor(blocks.numSlotTokens)) {
        violations.push(`${requestId} holds ${blocks.blockIds.length} blocks for ${blocks.numSlotTokens} tokens`);
      }
      if (blocks.blockHashes.length > blocks.blockIds.length) violations.push(`${requestId} has more hashes than blocks`);
    }
    for (let blockId = 0; blockId < this.pool.numBlocks; blockId++) {
      const refCount = this.pool.refCount(blockId);
      if (refCount !== numHolders[blockId]) {
        violations.push(`block ${blockId} has ref count ${refCount} but ${numHolders[blockId]} tables hold it`);
      }
    }
    return violations;
  }
}
