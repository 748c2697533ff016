import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors/engine-error.js';
import { kvCapacity } from './kv-capacity.js';

// Llama 3.2 1B: 16 layers, 8 KV heads of 64 → kvDim 512
const llama1b = { numLayers: 16, numKvHeads: 8, headDim: 64 };

describe('kvCapacity', () => {
  it('counts full-context sequences per KV type: bytes per token from each type, contexts in whole 16-slot blocks', () => {
    const capacity = kvCapacity(llama1b, 2 ** 30, 4096);
    // per token: 16 layers × (K + V) × 512 values × bytes per value; q8_0 is 34 bytes per 32 values
    expect(capacity).toEqual([
      { kvCacheType: 'f32', bytesPerToken: 65536, numSequences: 4 },
      { kvCacheType: 'f16', bytesPerToken: 32768, numSequences: 8 },
      { kvCacheType: 'bf16', bytesPerToken: 32768, numSequences: 8 },
      { kvCacheType: 'fp8', bytesPerToken: 16384, numSequences: 16 },
      { kvCacheType: 'q8_0', bytesPerToken: 17408, numSequences: 15 },
    ]);
    // 4097 tokens take 4112 slots (257 blocks): one fp8 sequence fewer than 4096's 16
    expect(kvCapacity(llama1b, 2 ** 30, 4097).find((c) => c.kvCacheType === 'fp8')?.numSequences).toBe(15);
  });

  it('leaves q8_0 out for a model whose K/V rows are not whole 32-value blocks', () => {
    const types = kvCapacity({ numLayers: 5, numKvHeads: 4, headDim: 12 }, 2 ** 20, 256).map((c) => c.kvCacheType);
    expect(types).toEqual(['f32', 'f16', 'bf16', 'fp8']);
  });

  it('refuses a memory or context that is not positive', () => {
    expect(() => kvCapacity(llama1b, 0, 4096)).toThrow(InvalidRequestError);
    expect(() => kvCapacity(llama1b, 2 ** 30, 0)).toThrow(InvalidRequestError);
  });
});
