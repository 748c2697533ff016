import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/api/index.js';
import { readGguf } from '../../src/formats/gguf/index.js';
import { ggmlTypeName } from '../../src/formats/ggml-type.js';
import { quantizeModelFile } from '../../src/quant/quantize-model.js';
import { writeSyntheticModel } from '../../src/testing/synthetic-model.js';
import { openLlamaCpp } from '../reference/llama-cpp.js';
import { BACKENDS, LLAMA_CPP_F32, argmax, firstDifference, klDivergence, tempDir } from '../parity/helpers.js';

/**
 * Files `quantizeModelFile` writes load in Peregrine and in llama.cpp (node-llama-cpp 3.21.1), and
 * Peregrine follows llama.cpp on them: llama.cpp's greedy tokens, teacher-forced, are Peregrine's
 * top-1 at (nearly) every position, with a small mean KL divergence, on both backends; free-running,
 * the first tokens are the same. (Bit-exact free-running greedy on quantized weights is claimed on
 * AMX CPUs only, see test/parity/synthetic.test.ts: elsewhere llama.cpp rounds activations to 8 bits
 * per block, which Peregrine's kernels do not copy bit for bit.)
 */
const STORIES = resolve(import.meta.dirname, '../../models/stories260K/stories260K.gguf');
const FORMATS = ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K', 'MXFP4'] as const;
const NUM_GREEDY = 64;
/** free-running tokens that must match on every CPU */
const NUM_EXACT_PREFIX = 8;
const PROMPT = 'Once upon a time, a little girl';

const dir = tempDir('quantize-round-trip');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const syntheticF32 = join(dir, 'tiny-f32.gguf');
beforeAll(() => void writeSyntheticModel(syntheticF32, { shape: 'tiny', weightType: 'F32', seed: 7, contextLength: 512 }));

const CASES = [
  ...FORMATS.map((format) => ({ model: 'stories260K', input: () => STORIES, format })),
  ...FORMATS.map((format) => ({ model: 'synthetic tiny', input: () => syntheticF32, format })),
];

describe.each(CASES)('$model quantized to $format', ({ model, input, format }) => {
  const path = join(dir, `${model.replace(/\W+/g, '-')}-${format}.gguf`);
  let refPromptIds: number[];
  let refGreedy: number[];
  let refForcedLogits: Float32Array[];
  beforeAll(async () => {
    await quantizeModelFile(input(), path, { format });
    const ref = await openLlamaCpp(path, { contextSize: 256, threads: 1, ...LLAMA_CPP_F32 });
    try {
      refPromptIds = ref.tokenize(PROMPT, { addSpecial: true });
      refGreedy = await ref.greedy(refPromptIds, NUM_GREEDY);
      refForcedLogits = await ref.logits([...refPromptIds, ...refGreedy]);
    } finally {
      await ref.dispose();
    }
  }, 120_000);

  it(`holds ${format} tensors`, () => {
    const types = new Set(readGguf(path).tensors.map((t) => ggmlTypeName(t.type)));
    // stories260K's rows of 64 do not fit Q4_K or Q6_K's blocks of 256: llama-quantize's fallbacks
    const expected = model === 'stories260K' && format === 'Q4_K' ? 'Q5_0' : model === 'stories260K' && format === 'Q6_K' ? 'Q8_0' : format;
    expect(types).toContain(expected);
  });

  describe.each(BACKENDS)('%s backend', (backend) => {
    let ours: Model;
    let forcedLogits: Float32Array[];
    beforeAll(async () => {
      ours = await loadModel(path, { contextSize: 256, kvCacheType: 'f32', backend, threads: 1 });
      forcedLogits = ours.evaluate([...refPromptIds, ...refGreedy]);
    });
    afterAll(() => ours?.dispose());

    it("agrees with llama.cpp's greedy tokens", async () => {
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
});
