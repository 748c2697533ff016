import { describe, expect, it } from 'vitest';
import { KvCacheManager } from '../cache/kv-cache-manager.js';
import { poolingRows } from '../runner/pooling-rows.js';
import { Request, type PoolingType } from './request.js';
import { Scheduler } from './scheduler.js';

const range = (start: number, length: number): number[] => Array.from({ length }, (_, i) => start + i);

function scheduler(maxNumBatchedTokens = 8, maxModelLen = 32): Scheduler {
  return new Scheduler({ maxNumSeqs: 4, maxNumBatchedTokens, maxModelLen }, new KvCacheManager({ numBlocks: 32, blockSize: 4 }));
}

function pooling(requestId: string, prompt: number[], type: PoolingType = 'mean'): Request {
  return new Request({ requestId, promptTokenIds: prompt, params: undefined, pooling: type });
}

/** runs steps until nothing is left; returns per request the steps' [startPosition, numTokens] */
function drain(s: Scheduler): Map<string, [number, number][]> {
  const chunks = new Map<string, [number, number][]>();
  for (let step = 0; step < 100 && s.numUnfinished > 0; step++) {
    const output = s.schedule();
    expect(s.listInvariantViolations()).toEqual([]);
    for (const item of output.scheduled) {
      expect(item.pooling).toBe(s.getRequest(item.requestId)!.pooling);
      chunks.set(item.requestId, [...(chunks.get(item.requestId) ?? []), [item.startPosition, item.numTokens]]);
    }
    const sampled = new Map(output.scheduled.filter((i) => i.isPrefillComplete && i.pooling === undefined).map((i) => [i.requestId, 7]));
    s.updateFromOutput(output, sampled);
  }
  return chunks;
}

describe('pooling requests in the scheduler', () => {
  it('are prefilled in chunks within the budget, sample nothing and finish stop with their prompt', () => {
    const s = scheduler(8);
    const a = pooling('a', range(1, 19));
    const b = pooling('b', range(50, 3));
    s.addRequest(a);
    s.addRequest(b);
    expect(drain(s)).toEqual(
      new Map([
        ['a', [[0, 8], [8, 8], [16, 3]]],
        ['b', [[0, 3]]],
      ]),
    );
    expect(s.getRequest('a')).toBeUndefined();
    for (const r of [a, b]) {
      expect(r.finishReason).toBe('stop');
      expect(r.numOutputTokens).toBe(0);
    }
    expect(s.kvCacheManager.stats.usage).toBe(0); // blocks freed
  });

  it('mean and cls take no cached prefix (every row is computed); last, and a later generation, reuse their blocks', () => {
    const s = scheduler(32);
    const prompt = range(1, 12);
    s.addRequest(pooling('p1', prompt));
    drain(s);
    for (const type of ['mean', 'cls'] as const) {
      s.addRequest(pooling(type, prompt, type));
      expect(s.schedule().scheduled.map((i) => [i.startPosition, i.numTokens])).toEqual([[0, 12]]);
      s.abort(type);
    }
    s.addRequest(pooling('last', prompt, 'last'));
    expect(s.schedule().scheduled.map((i) => [i.startPosition, i.numTokens])).toEqual([[8, 4]]);
    s.abort('last');
    s.addRequest(new Request({ requestId: 'g', promptTokenIds: prompt, params: undefined }));
    expect(s.schedule().scheduled.map((i) => [i.startPosition, i.numTokens])).toEqual([[8, 4]]);
  });

  it('may fill the whole context (a generation must leave room for one token)', () => {
    const s = scheduler(8, 16);
    s.addRequest(pooling('full', range(1, 16)));
    expect(() => s.addRequest(pooling('over', range(1, 17)))).toThrow(/17 tokens/);
    expect(() => s.addRequest(new Request({ requestId: 'g', promptTokenIds: range(1, 16), params: undefined }))).toThrow(/no room/);
    expect(drain(s).get('full')).toEqual([
      [0, 8],
      [8, 8],
    ]);
  });
});

describe('poolingRows', () => {
  const chunk = { numTokens: 3, startPosition: 0, isPrefillComplete: false };
  it('mean: every row of every chunk; last: the last row of the last chunk; cls: the first row of the first', () => {
    expect(poolingRows('mean', chunk)).toEqual([0, 1, 2]);
    expect(poolingRows('last', chunk)).toEqual([]);
    expect(poolingRows('last', { ...chunk, isPrefillComplete: true })).toEqual([2]);
    expect(poolingRows('cls', chunk)).toEqual([0]);
    expect(poolingRows('cls', { ...chunk, startPosition: 3 })).toEqual([]);
  });
});
