import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGguf } from '../../src/formats/gguf/index.js';
import { ggmlTypeName } from '../../src/formats/ggml-type.js';
import { resolveQuantFormat } from '../../src/quant/index.js';
import { quantizeModelFile } from '../../src/quant/quantize-model.js';
import { writeSyntheticModel } from '../../src/testing/synthetic-model.js';
import { tempDir } from '../parity/helpers.js';
import { HAS_PYTHON, LLAMA_LIB_DIR, llamaQuantize } from './python-reference.js';

/**
 * Whole files, byte for byte: what `quantizeModelFile` writes against what llama.cpp's own
 * llama_model_quantize (node-llama-cpp 3.21.1's libllama, called from Python) writes from the same
 * input. Equal files mean the same tensor types (llama-quantize's rules: norms and 1-D tensors,
 * output and tied embeddings, the k-quant mixes, the fallbacks for row lengths), the same bytes in
 * every block (ggml's reference quantizers), the same metadata (general.file_type,
 * general.quantization_version) and the same tensor order.
 * stories260K: rows of 64 and 172 (every k-quant falls back: Q4_K to Q5_0, Q6_K to Q8_0, 172 to F16).
 * Synthetic 'tiny' (rows of 256 and 512): real k-quant blocks and mixes; the BF16 one has tied embeddings,
 * the F16 'tiny-llama3' one (tied too) has rows of 768 and a rope_freqs tensor.
 */
const STORIES = resolve(import.meta.dirname, '../../models/stories260K/stories260K.gguf');
const skip = !LLAMA_LIB_DIR || !HAS_PYTHON;
if (skip) console.warn(`[quantize] llama.cpp's llama_model_quantize unavailable (${!HAS_PYTHON ? 'no python3' : 'no node-llama-cpp linux-x64 libllama'}): byte-parity tests skipped`);

const dir = tempDir('quantize-parity');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MODELS = {
  stories260K: STORIES,
  'synthetic tiny F32': join(dir, 'tiny-f32.gguf'),
  'synthetic tiny BF16, tied embeddings': join(dir, 'tiny-bf16-tied.gguf'),
  'synthetic tiny-llama3 F16': join(dir, 'tiny-llama3-f16.gguf'),
};
const CASES: [model: keyof typeof MODELS, format: string][] = [
  ...(['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K', 'MXFP4'] as const).map((f) => ['stories260K', f] as [keyof typeof MODELS, string]),
  ...(['Q8_0', 'Q4_0', 'Q4_K', 'Q4_K_S', 'Q5_K_M', 'Q6_K', 'MXFP4', 'F16'] as const).map((f) => ['synthetic tiny F32', f] as [keyof typeof MODELS, string]),
  ...(['Q4_0', 'Q4_K', 'Q6_K', 'MXFP4'] as const).map((f) => ['synthetic tiny BF16, tied embeddings', f] as [keyof typeof MODELS, string]),
  ...(['Q8_0', 'Q4_K', 'BF16'] as const).map((f) => ['synthetic tiny-llama3 F16', f] as [keyof typeof MODELS, string]),
];
const fileName = (model: string, format: string, who: string): string => join(dir, `${model.replace(/\W+/g, '-')}-${format}-${who}.gguf`);

describe.skipIf(skip)("quantized files equal llama.cpp's llama_model_quantize byte for byte", () => {
  beforeAll(async () => {
    writeSyntheticModel(MODELS['synthetic tiny F32'], { shape: 'tiny', weightType: 'F32', seed: 3 });
    writeSyntheticModel(MODELS['synthetic tiny BF16, tied embeddings'], { shape: 'tiny', weightType: 'BF16', seed: 4, hasTiedEmbeddings: true });
    writeSyntheticModel(MODELS['synthetic tiny-llama3 F16'], { shape: 'tiny-llama3', weightType: 'F16', seed: 5 });
    // one Python process for every reference file
    await llamaQuantize(
      CASES.map(([model, format]) => ({
        input: MODELS[model],
        output: fileName(model, format, 'llama'),
        fileType: resolveQuantFormat(format).fileType,
        isPureWithQ8Embeddings: format === 'MXFP4',
      })),
    );
  }, 300_000);

  it.each(CASES)('%s → %s', async (model, format) => {
    const ours = fileName(model, format, 'ours');
    const report = await quantizeModelFile(MODELS[model], ours, { format });
    const theirs = fileName(model, format, 'llama');
    // on a difference, name the tensors first (a readable failure), then compare every byte
    const theirTypes = Object.fromEntries(readGguf(theirs).tensors.map((t) => [t.name, ggmlTypeName(t.type)]));
    expect(Object.fromEntries(report.tensors.map((t) => [t.name, t.outputType]))).toEqual(theirTypes);
    expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);
  });

  it('writes the k-quant types these cases are meant to cover', async () => {
    const types = (model: keyof typeof MODELS, format: string): Set<string> =>
      new Set(readGguf(fileName(model, format, 'llama')).tensors.map((t) => ggmlTypeName(t.type)));
    expect([...types('synthetic tiny F32', 'Q4_K')].sort()).toEqual(['F32', 'Q4_K', 'Q6_K']);
    expect([...types('synthetic tiny F32', 'Q4_K_S')].sort()).toEqual(['F32', 'Q4_K', 'Q5_K', 'Q6_K']);
    expect([...types('stories260K', 'Q4_K')].sort()).toEqual(['F16', 'F32', 'Q5_0', 'Q8_0']);
    expect([...types('stories260K', 'MXFP4')].sort()).toEqual(['F16', 'F32', 'MXFP4', 'Q8_0']);
  });
});
