import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/api/index.js';
import type { Llama } from 'node-llama-cpp';
import { loadLlamaCpp, openLlamaCpp, type LlamaCppReference } from '../reference/llama-cpp.js';
import { BACKENDS, HAS_SHARED, LLAMA_CPP_F32, STORIES_260K, firstDifference, relativeError } from './helpers.js';

const PROMPTS = ['Once upon a time', 'The little dog', 'Lily and Tom went to the park. They', 'One day, a big bird'];

/** one llama.cpp binding for both backends' references (loading one costs about a second) */
let llama: Llama;
beforeAll(async () => {
  if (HAS_SHARED) llama = await loadLlamaCpp();
});
afterAll(() => llama?.dispose());

/**
 * Both engines run the all-f32 path (f32 KV cache; llama.cpp without flash attention, whose CPU
 * kernel accumulates V in f16), so logits can be compared to 1e-4. The default f16 cache is
 * checked against llama.cpp's defaults at the end.
 */
describe.skipIf(!HAS_SHARED).each(BACKENDS)('stories260K on the %s backend: token-exact with llama.cpp (needs ../shared/models)', (backend) => {
  let ours: Model;
  let ref: LlamaCppReference;
  beforeAll(async () => {
    ours = await loadModel(STORIES_260K, { contextSize: 512, kvCacheType: 'f32', backend, threads: 1 });
    ref = await openLlamaCpp(STORIES_260K, { contextSize: 512, threads: 1, ...LLAMA_CPP_F32, llama });
  }, 60_000);
  afterAll(async () => {
    ours?.dispose();
    await ref?.dispose();
  });

  it('greedy from BOS equals llama.cpp for 256 tokens', async () => {
    const expected = await ref.greedy([1], 256);
    const got = (await ours.complete([1], { temperature: 0, maxTokens: 256, ignoreEos: true })).tokenIds;
    expect(firstDifference(got, expected)).toBe(-1);
    expect(ours.detokenize(got)).toMatch(/^Once upon a time, there was a little girl named Lily\./);
  });

  it.each(PROMPTS)('greedy from %j equals llama.cpp for 256 tokens', async (prompt) => {
    const promptIds = ours.tokenize(prompt);
    expect(promptIds).toEqual(ref.tokenize(prompt, { addSpecial: true }));
    const expected = await ref.greedy(promptIds, 256);
    const got = (await ours.complete(promptIds, { temperature: 0, maxTokens: 256, ignoreEos: true })).tokenIds;
    expect(firstDifference(got, expected)).toBe(-1);
  });

  it('F32 logits agree within 1e-4 relative at every position', async () => {
    const ids = [...ours.tokenize(PROMPTS[2]!), ...(await ref.greedy(ours.tokenize(PROMPTS[2]!), 40))];
    const expected = await ref.logits(ids);
    const got = ours.evaluate(ids);
    const errors = got.map((row, i) => relativeError(row, expected[i]!));
    expect(Math.max(...errors)).toBeLessThan(1e-4);
  });

  it('with the default f16 KV cache, greedy still equals llama.cpp with its defaults (f16 KV, flash attention)', async () => {
    using oursF16 = await loadModel(STORIES_260K, { contextSize: 512, backend, threads: 1 });
    const refDefault = await openLlamaCpp(STORIES_260K, { contextSize: 512, threads: 1, llama });
    try {
      const expected = await refDefault.greedy([1], 256);
      const got = (await oursF16.complete([1], { temperature: 0, maxTokens: 256, ignoreEos: true })).tokenIds;
      expect(firstDifference(got, expected)).toBe(-1);
    } finally {
      await refDefault.dispose();
    }
  });
});
