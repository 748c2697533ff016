import { describe, expect, it } from 'vitest';
import { enumerateCandidates, KV_CACHE_TYPES } from './candidate-space.js';

const weights = [{ path: 'a.gguf', format: 'F16' }];

describe('enumerateCandidates', () => {
  it('on 2 cores: 1 worker x 2 threads, TP=2 and PP=2 at 1 thread each; batch sizes innermost', () => {
    const configs = enumerateCandidates({ weights, numCores: 2, batchSizes: [1, 8], kvCacheTypes: ['f16'] });
    expect(configs.map((c) => [c.tensorParallel, c.pipelineParallel, c.threadsPerWorker, c.maxNumSeqs])).toEqual([
      [1, 1, 2, 1],
      [1, 1, 2, 8],
      [1, 2, 1, 1],
      [1, 2, 1, 8],
      [2, 1, 1, 1],
      [2, 1, 1, 8],
    ]);
  });

  it('TP x PP never exceeds the cores; each worker gets an equal share of them', () => {
    const configs = enumerateCandidates({ weights, numCores: 6, batchSizes: [1], kvCacheTypes: ['f16'] });
    expect(configs.map((c) => `${c.tensorParallel}x${c.pipelineParallel}:${c.threadsPerWorker}`)).toEqual(['1x1:6', '1x2:3', '1x4:1', '2x1:3', '2x2:1', '4x1:1']);
  });

  it('every file x KV type; all KV types by default', () => {
    const configs = enumerateCandidates({ weights: [...weights, { path: 'b.gguf', format: 'Q8_0' }], numCores: 1, batchSizes: [4] });
    expect(configs.map((c) => `${c.format}/${c.kvCacheType}`)).toEqual(['F16', 'Q8_0'].flatMap((f) => KV_CACHE_TYPES.map((k) => `${f}/${k}`)));
    expect(KV_CACHE_TYPES).toContain('f16');
  });

  it('refuses degrees above the cores, non-integers, empty lists and no weights', () => {
    expect(() => enumerateCandidates({ weights, numCores: 2, tensorParallel: [4] })).toThrow(/tensor-parallel must be an integer from 1 to 2 \(the cores\) \(got 4\)/);
    expect(() => enumerateCandidates({ weights, numCores: 2, batchSizes: [0] })).toThrow(/batch size must be an integer at least 1 \(got 0\)/);
    expect(() => enumerateCandidates({ weights, numCores: 2, pipelineParallel: [] })).toThrow(/no pipeline-parallel to try/);
    expect(() => enumerateCandidates({ weights: [], numCores: 2 })).toThrow(/at least one weight file/);
    expect(() => enumerateCandidates({ weights, numCores: 2, tensorParallel: [2], pipelineParallel: [2] })).toThrow(/no TP x PP combination fits 2 cores/);
  });
});
