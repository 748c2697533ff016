import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/api/index.js';
import type { KvCacheType } from '../../src/kernels/kernel-backend.js';
import { writeSyntheticModel } from '../../src/testing/synthetic-model.js';
import { loadLlamaCpp, openLlamaCpp } from '../reference/llama-cpp.js';
import { BACKENDS, argmax, klDivergence, tempDir } from './helpers.js';

/**
 * The KV cache types llama.cpp has too (f16, bf16, q8_0: `-ctk/-ctv`), each against llama.cpp with
 * the same type on the same F32 model (tiny-llama3 shape: one KV head of 64, so a token's K or V
 * row is two q8_0 blocks), teacher-forced over llama.cpp's greedy tokens with its f32 cache. Each
 * engine's cache type is checked to take effect (its logits move away from the f32 cache's), and
 * ours to stay near llama.cpp's with the same type.
 *
 * Where the arithmetic differs (measured on an AMD Zen 5, native avx512-bf16, mean KL over 75
 * positions): f16 is llama.cpp's flash-attention path (Q and the V accumulator in f16): 3.8e-7
 * between the engines. bf16: 2.1e-5 (llama.cpp's flash attention converts Q to bf16 for the K dot
 * products; ours keeps Q in f32). q8_0: 1.4e-3 between the engines, while each is 5.5e-4 (ours)
 * and 7.0e-4 (llama.cpp's) from the f32 cache: llama.cpp also rounds Q to q8_0 blocks for the K
 * dot products, and its V error is the larger one (at the first position, where attention is V
 * itself: 6.9e-4 against our 5.7e-5; both quantize V rows as quantize_row_q8_0 does, and its flash
 * attention widens V exactly, so the cause is not known yet). Bounds sit above those figures.
 */
const CASES: readonly { readonly type: KvCacheType; readonly llamaCpp: 'F16' | 'BF16' | 'Q8_0'; readonly meanKl: number; readonly top1: number; readonly minMovedKl: number }[] = [
  { type: 'f16', llamaCpp: 'F16', meanKl: 1e-5, top1: 0.97, minMovedKl: 1e-8 },
  { type: 'bf16', llamaCpp: 'BF16', meanKl: 2e-4, top1: 0.97, minMovedKl: 1e-6 },
  { type: 'q8_0', llamaCpp: 'Q8_0', meanKl: 5e-3, top1: 0.9, minMovedKl: 1e-5 },
];
const NUM_GREEDY = 64;
const PROMPT = 'Once upon a time there was a little robot who wanted to paint the sky';

const dir = tempDir('kv-parity');
const path = join(dir, 'tiny-llama3-F32.gguf');
let llama: Llama;
let ids: number[];
/** llama.cpp's teacher-forced logits with its all-f32 cache (no flash attention) */
let refF32: Float32Array[];

beforeAll(async () => {
  writeSyntheticModel(path, { shape: 'tiny-llama3', weightType: 'F32', seed: 7, contextLength: 512 });
  llama = await loadLlamaCpp();
  const ref = await openLlamaCpp(path, { contextSize: 512, threads: 1, flashAttention: false, kvCacheKeyType: 'F32', kvCacheValueType: 'F32', llama });
  try {
    const promptIds = ref.tokenize(PROMPT, { addSpecial: true });
    ids = [...promptIds, ...(await ref.greedy(promptIds, NUM_GREEDY))];
    refF32 = await ref.logits(ids);
  } finally {
    await ref.dispose();
  }
});

afterAll(async () => {
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** mean KL(a ‖ b) and the share of rows with the same argmax */
function compare(a: readonly Float32Array[], b: readonly Float32Array[]): { meanKl: number; top1: number } {
  let kl = 0;
  let agree = 0;
  a.forEach((row, i) => {
    kl += klDivergence(row, b[i]!);
    if (argmax(row) === argmax(b[i]!)) agree++;
  });
  return { meanKl: kl / a.length, top1: agree / a.length };
}

describe.each(CASES)('KV cache $type against llama.cpp\'s $llamaCpp cache', ({ type, llamaCpp, meanKl, top1, minMovedKl }) => {
  let refLogits: Float32Array[];
  beforeAll(async () => {
    const ref = await openLlamaCpp(path, { contextSize: 512, threads: 1, flashAttention: true, kvCacheKeyType: llamaCpp, kvCacheValueType: llamaCpp, llama });
    try {
      refLogits = await ref.logits(ids);
    } finally {
      await ref.dispose();
    }
  });

  it.each(BACKENDS)(`%s backend: mean KL <= ${meanKl}, top-1 agreement >= ${top1}; both caches move the logits off the f32 cache's`, async (backend) => {
    using ours = await loadModel(path, { contextSize: 512, kvCacheType: type, backend, threads: 1 });
    const logits = ours.evaluate(ids);
    expect(logits).toHaveLength(ids.length);
    const between = compare(refLogits, logits);
    expect(between.meanKl).toBeLessThanOrEqual(meanKl);
    expect(between.top1).toBeGreaterThanOrEqual(top1);
    // the type took effect on each side: neither is the f32 cache's result
    expect(compare(refF32, refLogits).meanKl).toBeGreaterThan(minMovedKl);
    expect(compare(refF32, logits).meanKl).toBeGreaterThan(minMovedKl);
  });
});
