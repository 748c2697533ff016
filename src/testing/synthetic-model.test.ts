import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';
import { afterAll, describe, expect, it } from 'vitest';
import { GGML_TYPE_TRAITS, GgmlType } from '../formats/ggml-type.js';
import { MetadataReader, readGguf, readTensorData, type GgufFile } from '../formats/gguf/index.js';
import { dequantize } from '../quant/index.js';
import { writeSyntheticModel, type SyntheticModelOptions, type SyntheticWeightType } from './synthetic-model.js';
import { countModelParams, resolveModelShape } from './model-shapes.js';
import type { SyntheticVocabSpec } from './synthetic-vocab.js';

const VOCAB_DIR = fileURLToPath(new URL('../../../shared/models/vocab/', import.meta.url));
const hasSharedVocabs = existsSync(join(VOCAB_DIR, 'ggml-vocab-llama-bpe.gguf'));
if (!hasSharedVocabs) console.warn(`synthetic-model tests: ${VOCAB_DIR} is absent, skipping copyFrom cases`);

const dir = mkdtempSync(join(tmpdir(), 'peregrine-synthetic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const written = new Map<string, string>();

/** Writes (or reuses, for the same options) a model in the test's temp dir and reads it back. */
function write(options: SyntheticModelOptions): { path: string; file: GgufFile; meta: MetadataReader } {
  const key = JSON.stringify(options);
  let path = written.get(key);
  if (!path) {
    path = join(dir, `m${written.size}.gguf`);
    writeSyntheticModel(path, options);
    written.set(key, path);
  }
  const file = readGguf(path);
  return { path, file, meta: new MetadataReader(file.metadata, path) };
}

function tensorTypes(file: GgufFile): Record<string, string> {
  return Object.fromEntries(file.tensors.map((t) => [t.name, GgmlType[t.type]!]));
}

function tensorValues(file: GgufFile, name: string): Float32Array {
  const info = file.tensors.find((t) => t.name === name)!;
  return dequantize(info.type, readTensorData(file, [info]).get(name)!, info.numElements);
}

const VOCABS: [string, SyntheticVocabSpec][] = [
  ['spm', 'spm'],
  ['bpe (llama-bpe)', 'bpe'],
  ['bpe (gpt-2)', { kind: 'bpe', pre: 'gpt-2' }],
];
const COPIED_VOCABS: [string, SyntheticVocabSpec][] = hasSharedVocabs
  ? [
      ['copied llama-spm', { copyFrom: join(VOCAB_DIR, 'ggml-vocab-llama-spm.gguf') }],
      ['copied llama-bpe', { copyFrom: join(VOCAB_DIR, 'ggml-vocab-llama-bpe.gguf') }],
    ]
  : [];

/** weight type → type of the plain matrices (attn_q, ffn_up) */
const EXPECTED_MATRIX_TYPE: Record<SyntheticWeightType, string> = {
  F32: 'F32', F16: 'F16', BF16: 'BF16', Q8_0: 'Q8_0', Q4_0: 'Q4_0',
  Q4_K: 'Q4_K', Q5_K: 'Q5_K', Q6_K: 'Q6_K', MXFP4: 'MXFP4', NVFP4: 'NVFP4', FP8_E4M3: 'FP8_E4M3', Q4_K_M: 'Q4_K', Q5_K_M: 'Q5_K',
};

describe('writeSyntheticModel', () => {
  it('writes the metadata and tensors of a converted Llama file', () => {
    const { file, meta } = write({ shape: 'tiny', seed: 1, contextLength: 128 });
    expect(meta.string('general.architecture')).toBe('llama');
    expect(meta.number('general.file_type')).toBe(1);
    expect(meta.number('llama.context_length')).toBe(128);
    expect(meta.number('llama.embedding_length')).toBe(256);
    expect(meta.number('llama.block_count')).toBe(2);
    expect(meta.number('llama.feed_forward_length')).toBe(512);
    expect(meta.number('llama.attention.head_count')).toBe(4);
    expect(meta.number('llama.attention.head_count_kv')).toBe(2);
    expect(meta.number('llama.rope.freq_base')).toBe(10000);
    expect(meta.number('llama.attention.layer_norm_rms_epsilon')).toBe(Math.fround(1e-5));
    expect(meta.number('llama.rope.dimension_count')).toBe(64);
    expect(meta.number('llama.vocab_size')).toBe(512);
    const shapes = Object.fromEntries(file.tensors.map((t) => [t.name, t.shape]));
    expect(shapes).toEqual({
      'token_embd.weight': [256, 512],
      ...Object.fromEntries([0, 1].flatMap((i) => [
        [`blk.${i}.attn_norm.weight`, [256]],
        [`blk.${i}.attn_q.weight`, [256, 256]],
        [`blk.${i}.attn_k.weight`, [256, 128]],
        [`blk.${i}.attn_v.weight`, [256, 128]],
        [`blk.${i}.attn_output.weight`, [256, 256]],
        [`blk.${i}.ffn_norm.weight`, [256]],
        [`blk.${i}.ffn_gate.weight`, [256, 512]],
        [`blk.${i}.ffn_up.weight`, [256, 512]],
        [`blk.${i}.ffn_down.weight`, [512, 256]],
      ])),
      'output_norm.weight': [256],
      'output.weight': [256, 512],
    });
    const types = tensorTypes(file);
    expect(types['blk.0.attn_norm.weight']).toBe('F32');
    expect(types['blk.0.attn_q.weight']).toBe('F16');
  });

  it.each(['qwen2', 'qwen3'] as const)('writes the metadata and tensors of a converted %s file', (arch) => {
    const { file, meta } = write({ shape: `tiny-${arch}`, weightType: 'F32', seed: 1 });
    const qDim = arch === 'qwen3' ? 512 : 256;
    expect(meta.string('general.architecture')).toBe(arch);
    expect(meta.number(`${arch}.embedding_length`)).toBe(256);
    expect(meta.number(`${arch}.attention.key_length`)).toBe(qDim / 4);
    expect(meta.number(`${arch}.rope.freq_base`)).toBe(1e6);
    expect(file.metadata.has('llama.embedding_length')).toBe(false);
    expect(meta.string('tokenizer.ggml.pre')).toBe('qwen2');
    expect(meta.bool('tokenizer.ggml.add_bos_token', true)).toBe(false);
    const tokens = meta.stringArray('tokenizer.ggml.tokens');
    expect(tokens[meta.number('tokenizer.ggml.eos_token_id')]).toBe('<|im_end|>');
    const shapes = Object.fromEntries(file.tensors.map((t) => [t.name, t.shape]));
    expect(shapes['blk.1.attn_q.weight']).toEqual([256, qDim]);
    expect(shapes['blk.1.attn_output.weight']).toEqual([qDim, 256]);
    if (arch === 'qwen2') {
      expect([shapes['blk.1.attn_q.bias'], shapes['blk.1.attn_k.bias'], shapes['blk.1.attn_v.bias']]).toEqual([[256], [128], [128]]);
      expect(shapes['blk.1.attn_q_norm.weight']).toBeUndefined();
      expect(shapes['output.weight']).toBeUndefined(); // tied
    } else {
      expect([shapes['blk.1.attn_q_norm.weight'], shapes['blk.1.attn_k_norm.weight']]).toEqual([[128], [128]]);
      expect(shapes['blk.1.attn_q.bias']).toBeUndefined();
      expect(shapes['output.weight']).toEqual([256, 1024]);
    }
    expect(tensorTypes(file)['blk.0.attn_k.bias' in shapes ? 'blk.0.attn_k.bias' : 'blk.0.attn_k_norm.weight']).toBe('F32');
    const numElements = file.tensors.reduce((sum, t) => sum + t.numElements, 0);
    expect(countModelParams(resolveModelShape(`tiny-${arch}`))).toBe(numElements);
  });

  it.each(['gemma2', 'gemma3'] as const)("writes the metadata and tensors of a converted %s file, by llama.cpp's names", (arch) => {
    const { file, meta } = write({ shape: `tiny-${arch}`, weightType: 'F32', seed: 1 });
    expect(meta.string('general.architecture')).toBe(arch);
    expect(meta.number(`${arch}.attention.sliding_window`)).toBe(32);
    const shapes = Object.fromEntries(file.tensors.map((t) => [t.name, t.shape]));
    expect([shapes['blk.1.post_attention_norm.weight'], shapes['blk.1.post_ffw_norm.weight']]).toEqual([[256], [256]]);
    expect(shapes['output.weight']).toBeUndefined(); // tied
    if (arch === 'gemma2') {
      expect([meta.number('gemma2.attn_logit_softcapping'), meta.number('gemma2.final_logit_softcapping')]).toEqual([3, 15]);
      expect(shapes['blk.1.attn_q_norm.weight']).toBeUndefined();
    } else {
      expect(file.metadata.has('gemma3.attn_logit_softcapping')).toBe(false);
      expect([meta.string('gemma3.rope.scaling.type'), meta.number('gemma3.rope.scaling.factor')]).toEqual(['linear', 8]);
      expect([shapes['blk.5.attn_q_norm.weight'], shapes['blk.5.attn_k_norm.weight'], shapes['blk.5.attn_q.weight']]).toEqual([[128], [128], [256, 512]]);
    }
    const numElements = file.tensors.reduce((sum, t) => sum + t.numElements, 0);
    expect(countModelParams(resolveModelShape(`tiny-${arch}`))).toBe(numElements);
  });

  it("writes a converted phi3 file, by llama.cpp's names: fused attn_qkv and ffn_up, LongRoPE factors and keys, partial rotary", () => {
    const { file, meta } = write({ shape: 'tiny-phi3', weightType: 'F32', seed: 1 });
    expect(meta.string('general.architecture')).toBe('phi3');
    expect(meta.number('phi3.rope.dimension_count')).toBe(48);
    expect(meta.number('phi3.rope.scaling.original_context_length')).toBe(256);
    expect(meta.number('phi3.rope.scaling.attn_factor')).toBeCloseTo(Math.sqrt(1 + Math.log(1024 / 256) / Math.log(256)), 6);
    const shapes = Object.fromEntries(file.tensors.map((t) => [t.name, t.shape]));
    expect(shapes['blk.1.attn_qkv.weight']).toEqual([256, 256 + 2 * 128]);
    expect(shapes['blk.1.ffn_up.weight']).toEqual([256, 2 * 512]);
    expect([shapes['blk.1.attn_q.weight'], shapes['blk.1.ffn_gate.weight'], shapes['output.weight']]).toEqual([undefined, undefined, undefined]);
    expect([shapes['rope_factors_short.weight'], shapes['rope_factors_long.weight']]).toEqual([[24], [24]]);
    const numElements = file.tensors.reduce((sum, t) => sum + t.numElements, 0);
    expect(countModelParams(resolveModelShape('tiny-phi3'))).toBe(numElements);
    // Phi-3 mini 4k: no LongRoPE, whole-head rope, the window key written as the converter does
    const plain = write({ shape: 'tiny-phi3-4k', weightType: 'F32', seed: 1 });
    expect(plain.file.tensors.some((t) => t.name.startsWith('rope_factors'))).toBe(false);
    expect(plain.file.metadata.has('phi3.rope.scaling.attn_factor')).toBe(false);
    expect([plain.meta.number('phi3.rope.dimension_count'), plain.meta.number('phi3.attention.sliding_window')]).toEqual([64, 32]);
  });

  it.each([...VOCABS, ...COPIED_VOCABS])('writes a %s vocab sized to the model', (_, vocab) => {
    const { file, meta } = write({ shape: 'tiny-llama3', weightType: 'Q4_0', vocab });
    const tokens = meta.stringArray('tokenizer.ggml.tokens');
    expect(meta.number('llama.vocab_size')).toBe(tokens.length);
    expect(file.tensors.find((t) => t.name === 'token_embd.weight')!.shape).toEqual([256, tokens.length]);
    expect(new Set(tokens).size).toBe(tokens.length);
    const model = meta.string('tokenizer.ggml.model');
    if (model === 'llama') {
      expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
      expect(meta.number('tokenizer.ggml.bos_token_id')).toBe(1);
    } else {
      expect(model).toBe('gpt2');
      expect(tokens[meta.number('tokenizer.ggml.bos_token_id')]).toBe('<|begin_of_text|>');
      const known = new Set(tokens);
      const merges = meta.stringArray('tokenizer.ggml.merges');
      expect(merges.filter((m) => !known.has(m.replace(' ', '')))).toEqual([]);
    }
  });

  it('copies every tokenizer key of the source vocab', { skip: !hasSharedVocabs }, () => {
    const source = readGguf(join(VOCAB_DIR, 'ggml-vocab-llama-spm.gguf'));
    const { file } = write({ shape: 'tiny', weightType: 'Q4_0', vocab: { copyFrom: source.path } });
    for (const [key, value] of source.metadata) {
      if (key.startsWith('tokenizer.')) expect(file.metadata.get(key), key).toEqual(value);
    }
  });

  it.each(Object.entries(EXPECTED_MATRIX_TYPE))('writes %s matrices', (weightType, expected) => {
    const { file } = write({ shape: 'tiny', weightType: weightType as SyntheticWeightType });
    const types = tensorTypes(file);
    expect(types['blk.0.attn_q.weight']).toBe(expected);
    expect(types['blk.1.ffn_up.weight']).toBe(expected);
    expect(types['output_norm.weight']).toBe('F32');
  });

  it('follows llama-quantize for the Q4_K_M mix', () => {
    // 2 layers: use_more_bits is true for layer 1 only
    const untied = tensorTypes(write({ shape: 'tiny', weightType: 'Q4_K_M' }).file);
    expect(untied['output.weight']).toBe('Q6_K');
    expect(untied['token_embd.weight']).toBe('Q4_K');
    expect([untied['blk.0.attn_v.weight'], untied['blk.1.attn_v.weight']]).toEqual(['Q4_K', 'Q6_K']);
    expect([untied['blk.0.ffn_down.weight'], untied['blk.1.ffn_down.weight']]).toEqual(['Q4_K', 'Q6_K']);
    expect(untied['blk.1.attn_k.weight']).toBe('Q4_K');
    const tied = tensorTypes(write({ shape: 'tiny-llama3', weightType: 'Q4_K_M' }).file);
    expect(tied['token_embd.weight']).toBe('Q6_K');
    expect(tied['output.weight']).toBeUndefined();
  });

  it('honours embedding/output type overrides and falls back when rows do not fit a block', () => {
    const types = tensorTypes(write({ shape: 'tiny', weightType: 'Q4_0', embeddingType: GgmlType.Q8_0, outputType: GgmlType.F16 }).file);
    expect([types['token_embd.weight'], types['output.weight'], types['blk.0.attn_q.weight']]).toEqual(['Q8_0', 'F16', 'Q4_0']);
    const small = tensorTypes(write({ shape: 'tiny-64', weightType: 'Q4_K' }).file);
    expect(small['blk.0.attn_q.weight']).toBe('Q8_0'); // 64-wide rows: no 256-blocks
  });

  it('writes rope_freqs exactly as convert_hf_to_gguf.py does for Llama 3.2 (factor 32)', () => {
    const { file } = write({ shape: 'tiny-llama3', weightType: 'Q8_0' });
    const info = file.tensors.find((t) => t.name === 'rope_freqs.weight')!;
    expect(info.type).toBe(GgmlType.F32);
    const bits = Array.from(new Uint32Array(tensorValues(file, 'rope_freqs.weight').buffer));
    const f = (x: number): number => new Uint32Array(new Float32Array([x]).buffer)[0]!;
    // numpy float32 re-run of the converter's loop (head_dim 64, theta 500000, 1/4/8192)
    expect(bits).toEqual([...Array<number>(15).fill(f(1)), 0x3fd35ec2, 0x4052b46f, 0x411aaaee, ...Array<number>(14).fill(f(32))]);
    expect(write({ shape: 'tiny' }).file.tensors.some((t) => t.name === 'rope_freqs.weight')).toBe(false);
  });

  it('is deterministic per seed, and a seed gives the same weights in every type', () => {
    const hash = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
    const a = write({ shape: 'tiny', seed: 5, weightType: 'F32' });
    const again = join(dir, 'again.gguf');
    writeSyntheticModel(again, { shape: 'tiny', seed: 5, weightType: 'F32' });
    expect(hash(again)).toBe(hash(a.path));
    expect(hash(write({ shape: 'tiny', seed: 6, weightType: 'F32' }).path)).not.toBe(hash(a.path));
    const exact = tensorValues(a.file, 'blk.1.ffn_gate.weight');
    const quantized = tensorValues(write({ shape: 'tiny', seed: 5, weightType: 'Q8_0' }).file, 'blk.1.ffn_gate.weight');
    let err = 0;
    let sum = 0;
    for (let i = 0; i < exact.length; i++) {
      err += (exact[i]! - quantized[i]!) ** 2;
      sum += exact[i]! ** 2;
    }
    expect(Math.sqrt(err / sum)).toBeLessThan(0.01);
    expect(Math.sqrt(sum / exact.length)).toBeCloseTo(1 / 16, 2); // σ = 1/√dim
  });

  it('gives embedding rows equal norms, and special-token rows a quarter of it', () => {
    const { file, meta } = write({ shape: 'tiny-llama3', weightType: 'F32' });
    const values = tensorValues(file, 'token_embd.weight');
    const rms = (row: number): number => {
      let s = 0;
      for (let i = 0; i < 256; i++) s += values[row * 256 + i]! ** 2;
      return Math.sqrt(s / 256);
    };
    expect(rms(300)).toBeCloseTo(1 / 16, 5);
    expect(rms(meta.number('tokenizer.ggml.bos_token_id'))).toBeCloseTo(0.25 / 16, 5);
  });
});

// llama.cpp (through node-llama-cpp) is the reference these files are written for.
const llama: Llama | undefined = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error }).catch((error: unknown) => {
  console.warn(`synthetic-model tests: node-llama-cpp unavailable, skipping llama.cpp checks: ${String(error)}`);
  return undefined;
});
afterAll(async () => llama?.dispose());

async function greedy(path: string, prompt: string, numTokens: number): Promise<{ promptTokens: number[]; generated: number[]; text: string }> {
  const model = await llama!.loadModel({ modelPath: path });
  try {
    const promptTokens = model.tokenize(prompt);
    const context = await model.createContext({ contextSize: 128, threads: 1 }); // more threads spin-wait on a shared CPU
    const generated: number[] = [];
    const bos = model.tokens.bos;
    for await (const token of context.getSequence().evaluate([...(bos === null ? [] : [bos]), ...promptTokens], { temperature: 0 })) {
      generated.push(token);
      if (generated.length >= numTokens) break;
    }
    await context.dispose();
    return { promptTokens, generated, text: model.detokenize(promptTokens) };
  } finally {
    await model.dispose();
  }
}

describe.skipIf(!llama)('llama.cpp (node-llama-cpp 3.21.1) on synthetic models', () => {
  const PROMPT = 'Once upon a time, there was a little girl named Lily.';

  it.each([...VOCABS, ...COPIED_VOCABS])('loads a %s model, tokenizes and decodes varied tokens', async (_, vocab) => {
    const { path, meta } = write({ shape: 'tiny-llama3', weightType: 'Q4_0', vocab });
    const vocabSize = meta.number('llama.vocab_size');
    const { promptTokens, generated, text } = await greedy(path, PROMPT, 16);
    expect(text.trim()).toBe(PROMPT);
    expect(promptTokens.length).toBeLessThan(PROMPT.length); // merges apply, not one token per byte
    expect(promptTokens.every((t) => t >= 0 && t < vocabSize)).toBe(true);
    expect(new Set(generated).size).toBeGreaterThanOrEqual(6);
  });

  const isPeregrineType = (name: string): boolean => GGML_TYPE_TRAITS.find((t) => t.name === name)?.isLlamaCppType === false;
  it.each(Object.keys(EXPECTED_MATRIX_TYPE).filter((name) => !isPeregrineType(name)))('runs a %s model', async (weightType) => {
    const { path } = write({ shape: 'tiny', weightType: weightType as SyntheticWeightType });
    const { generated } = await greedy(path, PROMPT, 8);
    expect(generated).toHaveLength(8);
  });

  it.each(Object.keys(EXPECTED_MATRIX_TYPE).filter(isPeregrineType))("refuses a %s model (Peregrine's own type id)", async (weightType) => {
    const { path } = write({ shape: 'tiny', weightType: weightType as SyntheticWeightType });
    await expect(greedy(path, PROMPT, 8)).rejects.toThrow();
  });
});

