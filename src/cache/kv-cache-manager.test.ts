import { describe, expect, it } from 'vitest';
import { KvCacheManager } from './kv-cache-manager.js';

const BLOCK_SIZE = 4;

/** [start, start + length) */
function range(start: number, length: number): number[] {
  return Array.from({ length }, (_, i) => start + i);
}

/** admits `tokenIds` with its cached prefix and computes all but the last token, as a full prefill would */
function prefill(kv: KvCacheManager, requestId: string, tokenIds: readonly number[]): readonly number[] | null {
  const prefix = kv.findCachedPrefix(tokenIds);
  const added = kv.allocateSlots(requestId, tokenIds, tokenIds.length - prefix.numCachedTokens, prefix);
  if (added !== null) kv.cacheComputedBlocks(requestId, tokenIds, tokenIds.length);
  return added;
}

describe('KvCacheManager: allocation', () => {
  it('grows a block table one block per blockSize tokens', () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: BLOCK_SIZE });
    const tokenIds = range(100, 10);
    expect(kv.allocateSlots('a', tokenIds, 5)).toEqual([0, 1]);
    expect(kv.allocateSlots('a', tokenIds, 3)).toEqual([]);
    expect(kv.allocateSlots('a', tokenIds, 1)).toEqual([2]);
    expect(kv.blockTable('a')).toEqual(Int32Array.of(0, 1, 2));
    expect(kv.numSlotTokens('a')).toBe(9);
    expect(kv.usage).toBeCloseTo(3 / 8);
    expect(kv.listInvariantViolations()).toEqual([]);
  });

  it('returns null and changes nothing when the pool is short', () => {
    const kv = new KvCacheManager({ numBlocks: 3, blockSize: BLOCK_SIZE });
    const tokenIds = range(0, 20);
    kv.allocateSlots('a', tokenIds, 8);
    expect(kv.allocateSlots('b', tokenIds, 5)).toBeNull();
    expect(kv.hasRequest('b')).toBe(false);
    expect(kv.allocateSlots('a', tokenIds, 5)).toBeNull();
    expect(kv.numSlotTokens('a')).toBe(8);
    expect(kv.blockTable('a')).toEqual(Int32Array.of(0, 1));
    expect(kv.numFreeBlocks).toBe(1);
    expect(kv.listInvariantViolations()).toEqual([]);
  });

  it('leaks nothing once every request is freed', () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: BLOCK_SIZE });
    prefill(kv, 'a', range(0, 13));
    prefill(kv, 'b', range(0, 9)); // shares a's first two blocks
    expect(kv.free('a')).toBe(true);
    expect(kv.free('a')).toBe(false);
    expect(kv.listInvariantViolations()).toEqual([]);
    kv.free('b');
    expect(kv.numFreeBlocks).toBe(8);
    expect(kv.usage).toBe(0);
    expect(kv.listInvariantViolations()).toEqual([]);
  });
});

describe('KvCacheManager: prefix caching', () => {
  it('shares the computed full blocks of a common prefix, ref count 2', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: BLOCK_SIZE });
    const shared = range(500, 8);
    prefill(kv, 'a', [...shared, 1, 2, 3]);
    const b = [...shared, 7, 8, 9, 10, 11];
    const prefix = kv.findCachedPrefix(b);
    expect(prefix.numCachedTokens).toBe(8);
    expect(prefix.blockIds).toEqual([...kv.blockTable('a').subarray(0, 2)]);
    prefill(kv, 'b', b);
    for (const blockId of prefix.blockIds) expect(kv.pool.refCount(blockId)).toBe(2);
    expect(kv.blockTable('b')[2]).not.toBe(kv.blockTable('a')[2]);
    expect(kv.stats).toMatchObject({ numPrefixQueryTokens: 11 + 13, numPrefixHitTokens: 8 });
    expect(kv.listInvariantViolations()).toEqual([]);
  });

  it('always leaves at least one token to compute', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: BLOCK_SIZE });
    const tokenIds = range(0, 12);
    prefill(kv, 'a', [...tokenIds, 99]);
    expect(kv.findCachedPrefix(tokenIds).numCachedTokens).toBe(8); // not 12: the last block is left out
    expect(kv.findCachedPrefix([...tokenIds, 5]).numCachedTokens).toBe(12);
  });

  it('matches whole prefixes, not single blocks', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: BLOCK_SIZE });
    prefill(kv, 'a', [...range(0, 4), ...range(40, 4), 1]);
    expect(kv.findCachedPrefix([...range(40, 4), ...range(40, 4), 1]).numCachedTokens).toBe(0);
    expect(kv.findCachedPrefix([...range(0, 4), ...range(50, 4), 1]).numCachedTokens).toBe(4);
  });

  it('registers only full blocks of computed tokens', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: BLOCK_SIZE });
    const tokenIds = range(0, 20);
    kv.allocateSlots('a', tokenIds, 11);
    expect(kv.findCachedPrefix(tokenIds).numCachedTokens).toBe(0); // scheduled is not computed
    kv.cacheComputedBlocks('a', tokenIds, 11);
    expect(kv.findCachedPrefix(tokenIds).numCachedTokens).toBe(8);
    expect(kv.pool.numCachedBlocks).toBe(2);
  });

  it('keeps freed cached blocks reusable until reallocated, tail blocks evicted first', () => {
    const kv = new KvCacheManager({ numBlocks: 4, blockSize: BLOCK_SIZE });
    const tokenIds = range(0, 13);
    prefill(kv, 'a', tokenIds);
    kv.free('a');
    expect(kv.findCachedPrefix(tokenIds).numCachedTokens).toBe(12);
    kv.allocateSlots('x', range(900, 4), 4); // takes the never-used block
    kv.allocateSlots('y', range(900, 4), 4); // evicts a's last block
    expect(kv.findCachedPrefix(tokenIds).numCachedTokens).toBe(8);
    const prefix = kv.findCachedPrefix([...range(0, 8), 77]);
    expect(prefix.numCachedTokens).toBe(8);
    expect(kv.allocateSlots('b', [...range(0, 8), 77], 1, prefix)).toBeNull(); // 2 revived + 1 new > 2 free
    kv.free('x');
    expect(kv.allocateSlots('b', [...range(0, 8), 77], 1, prefix)).toHaveLength(1);
    expect(kv.stats.numPrefixHitTokens).toBe(8);
    expect(kv.listInvariantViolations()).toEqual([]);
  });

  it('counts reviving free cached prefix blocks against the free blocks', () => {
    const kv = new KvCacheManager({ numBlocks: 4, blockSize: BLOCK_SIZE });
    prefill(kv, 'a', range(0, 9)); // 3 blocks, the first 2 cached
    kv.free('a');
    kv.allocateSlots('c', range(900, 4), 4); // 3 free: 2 cached + 1 plain
    const tokenIds = [...range(0, 8), ...range(60, 5)];
    const prefix = kv.findCachedPrefix(tokenIds);
    expect(prefix.numCachedTokens).toBe(8);
    // 2 revived + 2 new > 3 free
    expect(kv.allocateSlots('b', tokenIds, 5, prefix)).toBeNull();
    expect(kv.numFreeBlocks).toBe(3);
    expect(kv.findCachedPrefix(tokenIds).numCachedTokens).toBe(8);
    expect(kv.allocateSlots('b', tokenIds, 4, prefix)).toHaveLength(1);
    expect(kv.listInvariantViolations()).toEqual([]);
  });

  it('keeps one block per prefix when two requests computed it side by side', () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: BLOCK_SIZE });
    const tokenIds = range(0, 9);
    kv.allocateSlots('a', tokenIds, 9);
    kv.allocateSlots('b', tokenIds, 9);
    kv.cacheComputedBlocks('a', tokenIds, 9);
    kv.cacheComputedBlocks('b', tokenIds, 9);
    expect(kv.pool.numCachedBlocks).toBe(2);
    expect(kv.findCachedPrefix(tokenIds).blockIds).toEqual([...kv.blockTable('a').subarray(0, 2)]);
    kv.free('a');
    kv.free('b');
    expect(kv.numFreeBlocks).toBe(8);
    expect(kv.listInvariantViolations()).toEqual([]);
  });

  it('finds nothing with prefix caching off', () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: BLOCK_SIZE, enablePrefixCaching: false });
    prefill(kv, 'a', range(0, 9));
    expect(kv.findCachedPrefix(range(0, 9)).numCachedTokens).toBe(0);
    expect(kv.pool.numCachedBlocks).toBe(0);
  });
});
