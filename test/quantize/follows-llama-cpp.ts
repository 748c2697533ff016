import type { Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/api/index.js';
import { loadLlamaCpp, openLlamaCpp } from '../reference/llama-cpp.js';
import { BACKENDS, LLAMA_CPP_F32, argmax, firstDifference, klDivergence } from '../parity/helpers.js';

/**
 * Tests that a model file loads in Peregrine and in llama.cpp (node-llama-cpp 3.21.1) and that
 * Peregrine follows llama.cpp on it, on both backends: llama.cpp's greedy tokens, teacher-forced,
 * are Peregrine's top-1 at (nearly) every position with a small mean KL divergence, and the first
 * free-running tokens are the same. (Bit-exact free-running greedy on quantized weights is claimed
 * on AMX CPUs only, see test/parity/synthetic.test.ts: elsewhere llama.cpp rounds activations to 8
 * bits per block, which Peregrine's kernels do not copy bit for bit.)
 * Call inside a describe; `path` is read in a beforeAll, after the caller's own beforeAll wrote it.
 */
const NUM_GREEDY = 64;
/** free-running tokens that must match on every CPU */
const NUM_EXACT_PREFIX = 8;
const PROMPT = 'Once upon a time, a little girl';

/** one llama.cpp binding for all the models a test file checks (loading one costs about a second), disposed after its last test */
let sharedLlama: Promise<Llama> | undefined;
afterAll(async () => {
  await (await sharedLlama?.catch(() => undefined))?.dispose();
  sharedLlama = undefined;
});

export function itFollowsLlamaCpp(path: () => string): void {
  let refPromptIds: number[];
  let refGreedy: number[];
  let refForcedLogits: Float32Array[];
  beforeAll(async () => {
    const ref = await openLlamaCpp(path(), { contextSize: 256, threads: 1, ...LLAMA_CPP_F32, llama: await (sharedLlama ??= loadLlamaCpp()) });
    try {
      refPromptIds = ref.tokenize(PROMPT, { addSpecial: true });
      refGreedy = await ref.greedy(refPromptIds, NUM_GREEDY);
      refForcedLogits = await ref.logits([...refPromptIds, ...refGreedy]);
    } finally {
      await ref.dispose();
    }
  }, 120_000);

  describe.each(BACKENDS)('%s backend', (backend) => {
    let ours: Model;
    let forcedLogits: Float32Array[];
    beforeAll(async () => {
      ours = await loadModel(path(), { contextSize: 256, kvCacheType: 'f32', backend, threads: 1 });
      forcedLogits = ours.evaluate([...refPromptIds, ...refGreedy]);
    });
    afterAll(() => ours?.dispose());

    it("follows llama.cpp's greedy tokens", async () => {
      expect(ours.tokenize(PROMPT)).toEqual(refPromptIds);
      expect(new Set(refGreedy).size).toBeGreaterThan(4); // not a degenerate model
      let numAgree = 0;
      let sumKl = 0;
      const first = refPromptIds.length - 1;
      for (let i = first; i < first + NUM_GREEDY; i++) {
        if (argmax(forcedLogits[i]!) === argmax(refForcedLogits[i]!)) numAgree++;
        sumKl += klDivergence(refForcedLogits[i]!, forcedLogits[i]!);
      }
      expect(numAgree / NUM_GREEDY).toBeGreaterThanOrEqual(0.9);
      expect(sumKl / NUM_GREEDY).toBeLessThan(1e-2);
      const got = (await ours.complete(refPromptIds, { temperature: 0, maxTokens: NUM_EXACT_PREFIX, ignoreEos: true })).tokenIds;
      expect(firstDifference(got, refGreedy.slice(0, NUM_EXACT_PREFIX))).toBe(-1);
    });
  });
}
