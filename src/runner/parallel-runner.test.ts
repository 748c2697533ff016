import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '../models/model-config.js';
import type { ScheduledRequest, SchedulerOutput } from '../scheduler/scheduler-output.js';
import { FakeParallelExecutor } from '../testing/fake-parallel-executor.js';
import { ParallelRunner } from './parallel-runner.js';
import { splitMicroBatches } from './split-micro-batches.js';

const CONFIG: ModelConfig = {
  architecture: 'llama',
  hiddenSize: 4,
  numLayers: 2,
  numHeads: 2,
  numKvHeads: 2,
  headDim: 2,
  ffnSize: 8,
  vocabSize: 64,
  contextLength: 64,
  normEps: 1e-5,
  rope: { mode: 'norm', numRotaryDims: 2, freqBase: 10000, freqScale: 1 },
};
const BLOCK_SIZE = 4;

function scheduled(requestId: string, tokenIds: number[], startPosition: number, extra: Partial<ScheduledRequest> = {}): ScheduledRequest {
  const numBlocks = Math.ceil((startPosition + tokenIds.length) / BLOCK_SIZE);
  const firstBlock = Number(requestId.replace(/\D/g, '') || 0) * 4; // each request its own blocks
  return {
    requestId,
    numTokens: tokenIds.length,
    startPosition,
    tokenIds,
    blockTable: Int32Array.from({ length: numBlocks }, (_, i) => firstBlock + i),
    isPrefillComplete: true,
    pooling: undefined,
    ...extra,
  };
}

function step(items: ScheduledRequest[]): SchedulerOutput {
  return { scheduled: items, numBatchedTokens: items.reduce((n, s) => n + s.numTokens, 0), preempted: [], finished: [] };
}

function executor(pipelineParallel: number): FakeParallelExecutor {
  return new FakeParallelExecutor({ tensorParallel: 2, pipelineParallel, transport: 'shared-memory' }, CONFIG, (t) => (t * 7) % 64);
}

describe('splitMicroBatches', () => {
  const split = (tokens: number[], maxGroups: number): number[][] => splitMicroBatches(tokens, (n) => n, maxGroups);

  it('splits contiguously into about equal token counts, never into empty groups', () => {
    expect(split([1, 1, 1, 1], 2)).toEqual([[1, 1], [1, 1]]);
    expect(split([8, 1, 1, 1], 2)).toEqual([[8], [1, 1, 1]]);
    expect(split([1, 1, 1, 8], 2)).toEqual([[1, 1, 1], [8]]);
    expect(split([5, 5, 5, 5, 5, 5], 3)).toEqual([[5, 5], [5, 5], [5, 5]]);
    expect(split([9, 9, 1], 3)).toEqual([[9], [9], [1]]);
    expect(split([1, 1], 4)).toEqual([[1], [1]]); // fewer sequences than groups: one each
    expect(split([3, 4, 5], 1)).toEqual([[3, 4, 5]]);
  });

  it('keeps every item once, in order, for any group count', () => {
    const tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5];
    for (let m = 1; m <= 12; m++) {
      const groups = split(tokens, m);
      expect(groups.flat()).toEqual(tokens);
      expect(groups).toHaveLength(Math.min(m, tokens.length));
      expect(groups.every((g) => g.length > 0)).toBe(true);
    }
  });
});

describe('ParallelRunner with a fake executor', () => {
  it('allocates the workers\' KV cache once, before the first forward pass', async () => {
    const ex = executor(1);
    const runner = new ParallelRunner(ex, { numKvBlocks: 32, blockSize: BLOCK_SIZE, kvCacheType: 'f16' });
    expect(ex.kvAllocations).toEqual([{ numBlocks: 32, blockSize: BLOCK_SIZE, dtype: 'f16' }]);
    await runner.execute(step([scheduled('r0', [5], 3)]));
    await runner.execute(step([scheduled('r0', [6], 4)]));
    expect(ex.kvAllocations).toHaveLength(1);
  });

  it('splits a step into pipelineParallel micro-batches of whole sequences, with their own slots and block tables', async () => {
    const ex = executor(2);
    const runner = new ParallelRunner(ex, { numKvBlocks: 32, blockSize: BLOCK_SIZE, kvCacheType: 'f16' });
    // two decodes (batched into one attention run) then two prefills: 1 + 1 + 3 + 3 tokens
    await runner.execute(step([scheduled('r1', [11], 5), scheduled('r2', [12], 2), scheduled('r3', [13, 14, 15], 0), scheduled('r4', [16, 17, 18], 0)]));
    const [batches] = ex.forwardCalls;
    expect(batches).toHaveLength(2);
    const [first, second] = batches!;
    expect([...first!.tokenIds]).toEqual([11, 12, 13, 14, 15]); // 5 tokens, then 3: the split nearest halves
    expect([...second!.tokenIds]).toEqual([16, 17, 18]);
    expect([...first!.positions]).toEqual([5, 2, 0, 1, 2]);
    expect([...second!.positions]).toEqual([0, 1, 2]);
    // r1's block 1 is physical 5, r2's block 0 is physical 8, r3's blocks start at 12, r4's at 16
    expect([...first!.slotIds]).toEqual([5 * BLOCK_SIZE + 1, 8 * BLOCK_SIZE + 2, 12 * BLOCK_SIZE, 12 * BLOCK_SIZE + 1, 12 * BLOCK_SIZE + 2]);
    expect([...second!.slotIds]).toEqual([16 * BLOCK_SIZE, 16 * BLOCK_SIZE + 1, 16 * BLOCK_SIZE + 2]);
    expect([...first!.logitRows]).toEqual([0, 1, 4]); // rows within each micro-batch
    expect([...second!.logitRows]).toEqual([2]);
    expect(first!.attentionRuns.map((r) => [r.start, r.numTokens])).toEqual([[0, 2], [2, 3]]);
    expect(second!.attentionRuns.map((r) => [r.start, r.numTokens])).toEqual([[0, 3]]);
    expect([...first!.attentionRuns[0]!.blockTables!]).toEqual([4, 5, 8, 0]); // [2 runs, stride 2]
  });

  it('returns the logits and argmax rows in the step\'s order, one per sampling request', async () => {
    const ex = executor(3);
    const runner = new ParallelRunner(ex, { numKvBlocks: 32, blockSize: BLOCK_SIZE, kvCacheType: 'f16' });
    const out = await runner.execute(
      step([scheduled('r1', [3], 4), scheduled('r2', [4, 5], 0, { isPrefillComplete: false }), scheduled('r3', [6], 1), scheduled('r4', [7, 8], 0)]),
    );
    expect(ex.forwardCalls[0]).toHaveLength(3);
    expect(out.requestIds).toEqual(['r1', 'r3', 'r4']);
    expect(out.vocabSize).toBe(64);
    const peaks = out.requestIds.map((_, row) => out.logits.subarray(row * 64, (row + 1) * 64).indexOf(10));
    expect(peaks).toEqual([21, 42, 56]); // 3·7, 6·7, 8·7 mod 64: each request's last token
    expect([...runner.argmaxRows(3)]).toEqual([21, 42, 56]);
    expect([...runner.argmaxRows(2)]).toEqual([21, 42]);
    expect(out.pooled).toBeUndefined();
  });

  it('maps hidden rows back to their pooling requests across micro-batches', async () => {
    const ex = executor(2);
    const runner = new ParallelRunner(ex, { numKvBlocks: 32, blockSize: BLOCK_SIZE, kvCacheType: 'f16' });
    const out = await runner.execute(
      step([
        scheduled('r1', [20, 21, 22], 0, { pooling: 'mean' }),
        scheduled('r2', [9], 3),
        scheduled('r3', [30, 31], 4, { pooling: 'last' }),
        scheduled('r4', [40, 41], 0, { pooling: 'cls', isPrefillComplete: false }),
      ]),
    );
    expect(ex.forwardCalls[0]).toHaveLength(2);
    expect(out.requestIds).toEqual(['r2']);
    const rows = (id: string): number[][] => {
      const p = out.pooled!.find((x) => x.requestId === id)!;
      return Array.from({ length: p.numRows }, (_, r) => [...p.rows.subarray(r * 4, r * 4 + 2)]);
    };
    expect(out.pooled!.map((p) => p.requestId)).toEqual(['r1', 'r3', 'r4']);
    expect(rows('r1')).toEqual([[20, 0], [21, 1], [22, 2]]); // mean: every row, with its position
    expect(rows('r3')).toEqual([[31, 5]]); // last: the prompt's last row
    expect(rows('r4')).toEqual([[40, 0]]); // cls: the first row
  });

  it('a failed KV allocation or forward pass rejects execute with the executor\'s error', async () => {
    const ex = executor(1);
    ex.failAllocate = new Error('worker 3 is out of memory');
    const runner = new ParallelRunner(ex, { numKvBlocks: 32, blockSize: BLOCK_SIZE, kvCacheType: 'f16' });
    await expect(runner.execute(step([scheduled('r0', [1], 0)]))).rejects.toThrow('worker 3 is out of memory');
    expect(ex.forwardCalls).toHaveLength(0);

    const ex2 = executor(1);
    ex2.failForward = new Error('peer failed');
    await expect(new ParallelRunner(ex2, { numKvBlocks: 32, blockSize: BLOCK_SIZE, kvCacheType: 'f16' }).execute(step([scheduled('r0', [1], 0)]))).rejects.toThrow('peer failed');
  });
});
