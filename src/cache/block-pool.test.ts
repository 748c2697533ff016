import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors/engine-error.js';
import { BlockPool } from './block-pool.js';

function allocateAll(pool: BlockPool): number[] {
  const blockIds: number[] = [];
  for (let blockId = pool.allocate(); blockId !== null; blockId = pool.allocate()) blockIds.push(blockId);
  return blockIds;
}

describe('BlockPool', () => {
  it('hands out every block once, then null, tracking usage', () => {
    const pool = new BlockPool(4, 16);
    expect(pool.numFreeBlocks).toBe(4);
    expect(pool.usage).toBe(0);
    expect(allocateAll(pool)).toEqual([0, 1, 2, 3]);
    expect(pool.allocate()).toBeNull();
    expect(pool.numFreeBlocks).toBe(0);
    expect(pool.usage).toBe(1);
    expect(pool.listInvariantViolations()).toEqual([]);
  });

  it('reuses freed blocks least recently freed first', () => {
    const pool = new BlockPool(4, 16);
    expect([pool.allocate(), pool.allocate(), pool.allocate()]).toEqual([0, 1, 2]);
    pool.free(1);
    pool.free(0);
    expect(pool.usage).toBe(0.25);
    expect(allocateAll(pool)).toEqual([3, 1, 0]);
    expect(pool.listInvariantViolations()).toEqual([]);
  });

  it('frees a block only when its last holder lets go', () => {
    const pool = new BlockPool(2, 16);
    const blockId = pool.allocate()!;
    pool.incRef(blockId);
    expect(pool.refCount(blockId)).toBe(2);
    pool.free(blockId);
    expect(pool.numFreeBlocks).toBe(1);
    pool.free(blockId);
    expect(pool.refCount(blockId)).toBe(0);
    expect(pool.numFreeBlocks).toBe(2);
    expect(pool.listInvariantViolations()).toEqual([]);
  });

  it('keeps a freed cached block findable and revivable until it is reallocated', () => {
    const pool = new BlockPool(2, 16);
    const blockId = pool.allocate()!;
    expect(pool.cacheBlock(blockId, 'h0')).toBe(true);
    pool.free(blockId);
    expect(pool.findCachedBlock('h0')).toBe(blockId);
    expect(pool.numFreeBlocks).toBe(2);

    pool.incRef(blockId); // a prefix-cache hit
    expect(pool.numFreeBlocks).toBe(1);
    expect(pool.refCount(blockId)).toBe(1);
    expect(pool.listInvariantViolations()).toEqual([]);

    pool.free(blockId);
    const other = pool.allocate()!; // the never-used block goes first: it was freed longer ago
    expect(other).not.toBe(blockId);
    expect(pool.findCachedBlock('h0')).toBe(blockId);
    expect(pool.allocate()).toBe(blockId); // now evicted
    expect(pool.findCachedBlock('h0')).toBeUndefined();
    expect(pool.blockHash(blockId)).toBeUndefined();
    expect(pool.numCachedBlocks).toBe(0);
    expect(pool.listInvariantViolations()).toEqual([]);
  });

  it('keeps the first block registered under a hash', () => {
    const pool = new BlockPool(2, 16);
    const [a, b] = [pool.allocate()!, pool.allocate()!];
    expect(pool.cacheBlock(a, 'same')).toBe(true);
    expect(pool.cacheBlock(b, 'same')).toBe(false);
    expect(pool.blockHash(b)).toBeUndefined();
    expect(pool.findCachedBlock('same')).toBe(a);
    expect(pool.listInvariantViolations()).toEqual([]);
  });

  it('treats misuse as a programmer bug', () => {
    const pool = new BlockPool(2, 16);
    expect(() => pool.free(0)).toThrow(/invariant/);
    expect(() => pool.incRef(0)).toThrow(/uncached/);
    expect(() => pool.free(7)).toThrow(/no block 7/);
    const blockId = pool.allocate()!;
    pool.free(blockId);
    expect(() => pool.cacheBlock(blockId, 'h')).toThrow(/free/);
  });

  it('rejects sizes that are not positive integers', () => {
    expect(() => new BlockPool(0, 16)).toThrow(InvalidRequestError);
    expect(() => new BlockPool(4, 1.5)).toThrow(/blockSize/);
  });
});
