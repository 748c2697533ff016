import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { createWorkload, NUM_HIGH_IDS_AVOIDED, NUM_LOW_IDS_AVOIDED, promptIdRange, sampleLength } from './workload.js';
import { percentile } from './percentiles.js';

describe('createWorkload', () => {
  const vocabSize = 32_000;

  it('is reproducible for a seed and differs across seeds', () => {
    const a = createWorkload({ numRequests: 20, vocabSize, seed: 7 });
    expect(createWorkload({ numRequests: 20, vocabSize, seed: 7 })).toEqual(a);
    expect(createWorkload({ numRequests: 20, vocabSize, seed: 8 })).not.toEqual(a);
    expect(a.map((r) => r.requestId)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('uses realistic clipped log-normal defaults and avoids special ids', () => {
    const requests = createWorkload({ numRequests: 2000, vocabSize, seed: 1 });
    const inputs = requests.map((r) => r.promptIds.length);
    const outputs = requests.map((r) => r.maxTokens);
    expect(Math.min(...inputs)).toBeGreaterThanOrEqual(16);
    expect(Math.max(...inputs)).toBeLessThanOrEqual(1024);
    expect(Math.min(...outputs)).toBeGreaterThanOrEqual(16);
    expect(Math.max(...outputs)).toBeLessThanOrEqual(512);
    expect(percentile(inputs, 50)).toBeGreaterThan(115);
    expect(percentile(inputs, 50)).toBeLessThan(141);
    expect(percentile(outputs, 50)).toBeGreaterThan(115);
    expect(percentile(outputs, 50)).toBeLessThan(141);
    let minId = Infinity;
    let maxId = -Infinity;
    let isAllIntegers = true;
    for (const r of requests) {
      for (const id of r.promptIds) {
        minId = Math.min(minId, id);
        maxId = Math.max(maxId, id);
        isAllIntegers &&= Number.isInteger(id);
      }
    }
    expect(minId).toBeGreaterThanOrEqual(NUM_LOW_IDS_AVOIDED);
    expect(maxId).toBeLessThan(vocabSize - NUM_HIGH_IDS_AVOIDED);
    expect(isAllIntegers).toBe(true);
  });

  it('honours fixed lengths', () => {
    const requests = createWorkload({
      numRequests: 3,
      vocabSize,
      inputLength: { kind: 'fixed', value: 64 },
      outputLength: { kind: 'fixed', value: 32 },
    });
    expect(requests.map((r) => [r.promptIds.length, r.maxTokens])).toEqual([[64, 32], [64, 32], [64, 32]]);
  });

  it('draws from the middle half of a small vocabulary (stories260K has 512 tokens)', () => {
    expect(promptIdRange(32_000)).toEqual({ minId: NUM_LOW_IDS_AVOIDED, endId: 32_000 - NUM_HIGH_IDS_AVOIDED });
    expect(promptIdRange(512)).toEqual({ minId: 128, endId: 384 });
    const ids = createWorkload({ numRequests: 50, vocabSize: 512, seed: 2 }).flatMap((r) => r.promptIds);
    expect(Math.min(...ids)).toBe(128);
    expect(Math.max(...ids)).toBe(383);
    expect(createWorkload({ numRequests: 1, vocabSize: 1 })[0]!.promptIds.every((id) => id === 0)).toBe(true);
  });

  it('rejects a vocabulary that is not a positive integer, and bad distributions', () => {
    expect(() => createWorkload({ numRequests: 1, vocabSize: 0 })).toThrow(/vocabSize/);
    expect(() => createWorkload({ numRequests: 1, vocabSize: 2.5 })).toThrow(/vocabSize/);
    expect(() => createWorkload({ numRequests: 1, vocabSize, inputLength: { kind: 'uniform', min: 10, max: 5 } })).toThrow(/inputLength/);
    expect(() => createWorkload({ numRequests: -1, vocabSize })).toThrow(/numRequests/);
  });
});

describe('sampleLength', () => {
  it('draws uniform integers covering [min, max]', () => {
    const rng = new Rng(3);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(sampleLength({ kind: 'uniform', min: 5, max: 9 }, rng));
    expect([...seen].sort()).toEqual([5, 6, 7, 8, 9]);
  });

  it('clips normal draws', () => {
    const rng = new Rng(4);
    for (let i = 0; i < 1000; i++) {
      const n = sampleLength({ kind: 'normal', mean: 100, stdDev: 50, min: 80, max: 120 }, rng);
      expect(n).toBeGreaterThanOrEqual(80);
      expect(n).toBeLessThanOrEqual(120);
    }
  });
});
