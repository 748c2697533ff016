import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../kernels/reference/reference-backend.js';
import { Workspace } from '../models/workspace.js';
import { buildForwardBatch, type BatchSequence } from './build-forward-batch.js';

const blockSize = 4; // KV blocks of 4 slots
const seq = (numTokens: number, startPosition: number, blockTable: number[], logitRows: number[] = [numTokens - 1]): BatchSequence => ({
  tokenIds: Array.from({ length: numTokens }, (_, i) => 100 + startPosition + i),
  startPosition,
  blockTable: Int32Array.from(blockTable),
  logitRows,
});

describe('buildForwardBatch (no kernels)', () => {
  it('lays tokens end to end with their positions, KV slots and wanted logit rows', () => {
    const batch = buildForwardBatch([seq(3, 2, [5, 6]), seq(2, 4, [7, 1], [])], blockSize, new Workspace(new ReferenceBackend()));
    expect([...batch.tokenIds]).toEqual([102, 103, 104, 104, 105]);
    expect([...batch.positions]).toEqual([2, 3, 4, 4, 5]);
    // position p of a sequence goes to slot blockTable[p / 4] · 4 + p % 4
    expect([...batch.slotIds]).toEqual([22, 23, 24, 4, 5]);
    expect([...batch.logitRows]).toEqual([2]);
  });

  it('runs of two or more decode tokens become one batched attention call; the rest one call each', () => {
    const ws = new Workspace(new ReferenceBackend());
    const batch = buildForwardBatch([seq(1, 9, [3, 4, 6]), seq(1, 2, [8]), seq(4, 0, [2]), seq(1, 5, [9, 10]), seq(1, 0, [11])], blockSize, ws);
    const runs = batch.attentionRuns;
    expect(runs.map((r) => [r.start, r.numTokens, r.blockTables ? 'batch' : 'one'])).toEqual([
      [0, 2, 'batch'],
      [2, 4, 'one'],
      [6, 2, 'batch'],
    ]);
    expect(runs[0]!.blockTableStride).toBe(3);
    expect([...runs[0]!.blockTables!]).toEqual([3, 4, 6, 8, 0, 0]);
    expect([...runs[1]!.blockTable!]).toEqual([2]);
    expect(runs[2]!.blockTableStride).toBe(2);
    expect([...runs[2]!.blockTables!]).toEqual([9, 10, 11, 0]);
    expect([...batch.logitRows]).toEqual([0, 1, 5, 6, 7]);
  });

  it('a single decode token runs on its own', () => {
    const batch = buildForwardBatch([seq(1, 7, [0, 1])], blockSize, new Workspace(new ReferenceBackend()));
    expect(batch.attentionRuns).toEqual([{ start: 0, numTokens: 1, blockTable: Int32Array.from([0, 1]) }]);
    expect([...batch.slotIds]).toEqual([7]);
  });
});
