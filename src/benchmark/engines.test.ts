import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../engine/loaded-model.js';
import { probeNativeBackend } from '../kernels/native/native-backend.js';
import { BENCH_SCENARIOS, type BenchTarget } from './bench-target.js';
import { llamaCppKvCacheType, llamaCppScenarioConfig, openLlamaCppPeer, peregrineScenarioConfig, peregrineTarget } from './engines.js';
import type { BenchEngine } from './scenario.js';

const MODEL = fileURLToPath(new URL('../../models/stories260K/stories260K.gguf', import.meta.url));
const options = { threads: 2, maxNumSeqs: 8, contextSize: 392, kvCacheType: 'f16' as const };
const exact = (backendName: string) => ({ backendName, hasBf16Batches: false });
const bf16 = (backendName: string) => ({ backendName, hasBf16Batches: true });

describe('per-scenario configurations', () => {
  it('gives llama.cpp a one-sequence context sized for one request in SingleStream, its 8-sequence context in Offline and Server', () => {
    expect(llamaCppScenarioConfig('single-stream', options)).toMatchObject({ numSequences: 1, contextSize: 392, numKvTokens: 392, threads: 2, matmulPrecision: 'exact' });
    for (const scenario of ['offline', 'server'] as const) {
      expect(llamaCppScenarioConfig(scenario, options)).toMatchObject({ numSequences: 8, contextSize: 392, numKvTokens: 8 * 392, threads: 2 });
    }
    expect(llamaCppScenarioConfig('offline', options).details).toMatch(/^KV f16, flash attention auto, batch 512, UV_THREADPOOL_SIZE=/);
  });

  it('gives both engines the KV cache type asked for, llama.cpp f16 where it has no such type (fp8)', () => {
    const peregrine = (kvCacheType: 'q8_0' | 'fp8') => peregrineScenarioConfig('offline', { ...options, kvCacheType, matmulPrecision: 'exact', maxQueueLength: 16 }, exact('native-avx2')).details;
    expect(peregrine('q8_0')).toMatch(/paged KV q8_0/);
    expect(peregrine('fp8')).toMatch(/paged KV fp8/);
    expect(llamaCppScenarioConfig('offline', { ...options, kvCacheType: 'q8_0' }).details).toMatch(/^KV q8_0,/);
    expect(llamaCppScenarioConfig('offline', { ...options, kvCacheType: 'fp8' }).details).toMatch(/^KV f16 \(no fp8 cache in llama.cpp\),/);
    expect(llamaCppKvCacheType('bf16')).toBe('BF16');
    expect(llamaCppKvCacheType('f32')).toBe('F32');
  });

  it('gives Peregrine the same sequences and KV capacity, and states the matmul precision in effect', () => {
    const o = { ...options, matmulPrecision: 'bf16' as const, maxQueueLength: 256 };
    expect(peregrineScenarioConfig('single-stream', o, bf16('native-amx-bf16'))).toMatchObject({ numSequences: 1, numKvTokens: 392, matmulPrecision: 'bf16', threads: 2 });
    expect(peregrineScenarioConfig('server', o, bf16('native-amx-bf16'))).toMatchObject({ numSequences: 8, numKvTokens: 8 * 392, details: /^native-amx-bf16, / });
    // bf16 asked for on a CPU without bf16 batches runs the exact kernels
    expect(peregrineScenarioConfig('offline', o, exact('native-avx2')).matmulPrecision).toBe('exact (bf16 needs AMX or AVX-512-BF16)');
    expect(peregrineScenarioConfig('offline', { ...o, matmulPrecision: 'exact' }, exact('native-amx')).matmulPrecision).toBe('exact');
  });
});

async function countTokens(engine: BenchEngine, promptIds: number[], maxTokens: number): Promise<number> {
  let n = 0;
  for await (const item of engine.generate(promptIds, maxTokens)) n += item.numTokens;
  return n;
}

/** every scenario in turn, closing each engine before the next opens: SingleStream one request, the others two at once */
async function exercise(target: BenchTarget): Promise<number[]> {
  const counts: number[] = [];
  for (const scenario of BENCH_SCENARIOS) {
    const opened = await target.open(scenario);
    try {
      expect(opened.config.numSequences).toBe(scenario === 'single-stream' ? 1 : 2);
      const numRequests = scenario === 'single-stream' ? 1 : 2;
      counts.push(...(await Promise.all(Array.from({ length: numRequests }, (_, i) => countTokens(opened.engine, [1, 30 + i, 40], 5)))));
    } finally {
      await opened.close();
    }
  }
  return counts;
}

describe('engine targets on stories260K', () => {
  const small = { threads: 1, maxNumSeqs: 2, contextSize: 32, kvCacheType: 'f16' as const };

  it('Peregrine opens a fresh serving engine per scenario, and closing one leaves the model usable', async () => {
    const model = await loadModel(MODEL, { contextSize: small.contextSize, threads: 1 });
    const target = peregrineTarget(model, { ...small, matmulPrecision: 'exact', maxQueueLength: 16 });
    try {
      expect(await exercise(target)).toEqual([5, 5, 5, 5, 5]);
    } finally {
      await target.dispose();
    }
  });

  it('Peregrine reports the matmul precision its model runs: bf16 only where the CPU has bf16 batch kernels', async (ctx) => {
    const probe = probeNativeBackend({ threads: 1 });
    if (!probe.ok) return ctx.skip();
    const hasBf16Kernels = probe.backend.isa === 'amx' || probe.backend.isa === 'avx512-bf16';
    probe.backend.dispose();
    for (const matmulPrecision of ['exact', 'bf16'] as const) {
      const model = await loadModel(MODEL, { contextSize: small.contextSize, threads: 1, backend: 'native', matmulPrecision });
      const target = peregrineTarget(model, { ...small, matmulPrecision, maxQueueLength: 16 });
      try {
        expect(model.hasBf16Batches).toBe(matmulPrecision === 'bf16' && hasBf16Kernels);
        const opened = await target.open('offline');
        await opened.close();
        const expected = model.hasBf16Batches ? 'bf16' : matmulPrecision === 'bf16' ? 'exact (bf16 needs AMX or AVX-512-BF16)' : 'exact';
        expect(opened.config.matmulPrecision).toBe(expected);
      } finally {
        await target.dispose();
      }
    }
  });

  it('llama.cpp opens a context per scenario with that scenario\'s sequences', async (ctx) => {
    const target = await openLlamaCppPeer(MODEL, small);
    if (typeof target === 'string') {
      ctx.skip();
      return;
    }
    try {
      expect(await exercise(target)).toEqual([5, 5, 5, 5, 5]);
    } finally {
      await target.dispose();
    }
  });
});
