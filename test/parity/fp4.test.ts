import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/api/index.js';
import { GgmlType, ggmlTypeName, ggmlTypeTraits } from '../../src/formats/ggml-type.js';
import { readGguf, readTensorData, writeGguf, type GgufTensorSpec } from '../../src/formats/gguf/index.js';
import { dequantize, quantize } from '../../src/quant/index.js';
import { writeSyntheticModel } from '../../src/testing/synthetic-model.js';
import { openLlamaCpp } from '../reference/llama-cpp.js';
import { BACKENDS, HAS_SHARED, LLAMA_CPP_F32, STORIES_260K, firstDifference, tempDir } from './helpers.js';

/**
 * MXFP4 (type 39) and NVFP4 (type 40) files written by Peregrine load in llama.cpp (node-llama-cpp
 * 3.21.1, whose llama.cpp knows both, and runs them × Q8_0 activations as we do) and give the
 * same greedy tokens: a synthetic Llama model written in the type, and stories260K with every
 * matrix whose rows fit the type's blocks re-quantized to it (its ffn_down rows of 172 stay F32).
 * Both engines run the all-f32 attention path (f32 KV cache, no flash attention).
 */
const NUM_GREEDY = 64;
const PROMPT = 'Once upon a time';

const dir = tempDir('fp4-parity');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** stories260K with its 2-D tensors whose rows are whole blocks of `type` quantized to it (written by our codec) */
function requantizedStories(type: GgmlType, path: string): string[] {
  const file = readGguf(STORIES_260K);
  const data = readTensorData(file, file.tensors);
  const blockSize = ggmlTypeTraits(type)!.blockSize;
  const converted: string[] = [];
  const tensors: GgufTensorSpec[] = file.tensors.map((t) => {
    const bytes = data.get(t.name)!;
    if (t.shape.length !== 2 || t.shape[0]! % blockSize !== 0) return { name: t.name, shape: t.shape, type: t.type, data: bytes };
    converted.push(t.name);
    const values = dequantize(t.type, bytes, t.numElements);
    return { name: t.name, shape: t.shape, type, data: quantize(type, values) };
  });
  const metadata = new Map(file.metadata);
  writeGguf(path, { metadata, tensors, alignment: file.alignment });
  return converted;
}

describe.each([GgmlType.MXFP4, GgmlType.NVFP4].map((type) => [ggmlTypeName(type), type] as const))('%s files written by Peregrine: greedy parity with llama.cpp', (name, type) => {

  describe('synthetic tiny Llama', () => {
    const path = join(dir, `tiny-${name}.gguf`);
    let promptIds: number[];
    let expected: number[];
    beforeAll(async () => {
      writeSyntheticModel(path, { shape: 'tiny', weightType: name as 'MXFP4' | 'NVFP4', seed: 7, contextLength: 512 });
      const ref = await openLlamaCpp(path, { contextSize: 512, threads: 1, ...LLAMA_CPP_F32 });
      try {
        promptIds = ref.tokenize('The quick brown fox jumps over the lazy dog', { addSpecial: true });
        expected = await ref.greedy(promptIds, NUM_GREEDY);
      } finally {
        await ref.dispose();
      }
    });

    it.each(BACKENDS)(`the %s backend's ${NUM_GREEDY} greedy tokens are llama.cpp's`, async (backend) => {
      using ours = await loadModel(path, { contextSize: 512, kvCacheType: 'f32', backend, threads: 1 });
      expect(ours.tokenize('The quick brown fox jumps over the lazy dog')).toEqual(promptIds);
      const got = (await ours.complete(promptIds, { temperature: 0, maxTokens: NUM_GREEDY, ignoreEos: true })).tokenIds;
      expect(new Set(expected).size).toBeGreaterThan(8); // not degenerate
      expect(firstDifference(got, expected)).toBe(-1);
    });
  });

  describe.skipIf(!HAS_SHARED)('stories260K re-quantized (needs ../shared/models)', () => {
    const path = join(dir, `stories260K-${name}.gguf`);
    let promptIds: number[];
    let expected: number[];
    beforeAll(async () => {
      const converted = requantizedStories(type, path);
      expect(converted.length).toBeGreaterThanOrEqual(10);
      const ref = await openLlamaCpp(path, { contextSize: 512, threads: 1, ...LLAMA_CPP_F32 });
      try {
        promptIds = ref.tokenize(PROMPT, { addSpecial: true });
        expected = await ref.greedy(promptIds, 2 * NUM_GREEDY);
      } finally {
        await ref.dispose();
      }
    });

    it.each(BACKENDS)(`the %s backend's ${2 * NUM_GREEDY} greedy tokens are llama.cpp's`, async (backend) => {
      using ours = await loadModel(path, { contextSize: 512, kvCacheType: 'f32', backend, threads: 1 });
      const got = (await ours.complete(promptIds, { temperature: 0, maxTokens: 2 * NUM_GREEDY, ignoreEos: true })).tokenIds;
      expect(ours.detokenize(got).length).toBeGreaterThan(100);
      expect(firstDifference(got, expected)).toBe(-1);
    });
  });
});
