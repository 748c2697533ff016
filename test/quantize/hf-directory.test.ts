import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/api/index.js';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';
import { InvalidRequestError, ModelLoadError } from '../../src/errors/engine-error.js';
import { readGguf, readTensorData, writeGguf, type GgufFile } from '../../src/formats/gguf/index.js';
import { readModel } from '../../src/formats/read-model.js';
import { evaluateLogits } from '../../src/runner/evaluate-logits.js';
import { quantizeModelFile } from '../../src/quant/quantize-model.js';
import { writeSafetensors } from '../../src/testing/safetensors-writer.js';
import { HAS_SHARED, SHARED_MODELS } from '../parity/helpers.js';

/** stories260K as a Hugging Face directory (config.json, model.safetensors in F32, no tokenizer.json); its GGUF twin is the bundled model */
const STORIES_HF = join(SHARED_MODELS, 'stories260K/hf');
const dir = mkdtempSync(join(tmpdir(), 'peregrine-quantize-hf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tensorBytes(file: GgufFile): Map<string, Buffer> {
  return new Map([...readTensorData(file, file.tensors)].map(([name, bytes]) => [name, Buffer.from(bytes)]));
}

describe.skipIf(!HAS_SHARED || !existsSync(STORIES_HF))('quantize from a Hugging Face directory (needs ../shared/models)', () => {
  it.each([
    { format: 'Q8_0', threads: 1 },
    { format: 'Q4_K', threads: 2 },
    { format: 'Q4_K', threads: 2, calibrationText: 'Once upon a time, there was a little girl named Lily. She loved to play outside.' },
  ])('$format ($threads threads, calibrated: $calibrationText) writes the tensors its GGUF twin gives, and the file generates', async ({ format, threads, calibrationText }) => {
    const name = `${format}-${threads}-${calibrationText ? 'cal' : 'plain'}`;
    const fromHf = join(dir, `hf-${name}.gguf`);
    const fromGguf = join(dir, `gguf-${name}.gguf`);
    const options = { format, threads, ...(calibrationText && { calibrationText }) };
    await quantizeModelFile(STORIES_HF, fromHf, { ...options, tokenizer: DEFAULT_MODEL_PATH });
    await quantizeModelFile(DEFAULT_MODEL_PATH, fromGguf, options);

    // The directory ties the output to the token embeddings (tie_word_embeddings); the GGUF twin has
    // an output.weight of its own, the same f32 values. So token_embd gets the output's type here
    // (llama-quantize's rule for a tied model) and must be the twin's output.weight byte for byte
    // where that type differs from the twin's token_embd; every other tensor is the twin's own.
    const hf = readGguf(fromHf);
    const twin = readGguf(fromGguf);
    expect(hf.tensors.map((t) => t.name)).toEqual(twin.tensors.map((t) => t.name).filter((n) => n !== 'output.weight'));
    const twinInfos = new Map(twin.tensors.map((t) => [t.name, t]));
    const twinBytes = tensorBytes(twin);
    const hfBytes = tensorBytes(hf);
    for (const info of hf.tensors) {
      const counterpart = info.name === 'token_embd.weight' && info.type !== twinInfos.get(info.name)!.type ? 'output.weight' : info.name;
      expect(info.type, info.name).toBe(twinInfos.get(counterpart)!.type);
      expect(hfBytes.get(info.name)!.equals(twinBytes.get(counterpart)!), `${info.name} vs the twin's ${counterpart}`).toBe(true);
    }
    // the vocabulary came through readModel's metadata (from --tokenizer here)
    expect(hf.metadata.get('tokenizer.ggml.tokens')).toEqual(twin.metadata.get('tokenizer.ggml.tokens'));

    await using hfModel = await loadModel(fromHf, { contextSize: 64 });
    await using twinModel = await loadModel(fromGguf, { contextSize: 64 });
    const greedy = { temperature: 0, maxTokens: 16 };
    const text = (await hfModel.complete('Once upon a time', greedy)).text;
    expect(text.length).toBeGreaterThan(0);
    if (format === 'Q8_0') {
      // every weight the same bytes (the tied embeddings are the twin's Q8_0 rows for both uses): the same model
      expect(text).toBe((await twinModel.complete('Once upon a time', greedy)).text);
      const ids = hfModel.tokenize(`Once upon a time${text}`, { addSpecial: true, parseSpecial: false });
      const a = evaluateLogits(hfModel.network, ids, hfModel.kvCacheType);
      const b = evaluateLogits(twinModel.network, ids, twinModel.kvCacheType);
      for (let i = 0; i < ids.length; i++) for (let v = 0; v < a[i]!.length; v++) expect(Math.abs(a[i]![v]! - b[i]![v]!)).toBeLessThan(1e-5);
    }
  }, 60_000);
});

describe('quantize from a Hugging Face directory, a tensor of several chunks', () => {
  it('writes what quantizing the GGUF of its conversion writes (1 and 2 threads)', async () => {
    // vocabulary 16400 × hidden 64: token_embd is 1,049,600 values, two chunks; q and k are permuted on reading
    const model = join(dir, 'wide-vocab');
    mkdirSync(model);
    writeFileSync(join(model, 'config.json'), JSON.stringify({
      model_type: 'llama', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 4,
      num_key_value_heads: 2, vocab_size: 16400, max_position_embeddings: 64, rms_norm_eps: 1e-5, tie_word_embeddings: true,
    }));
    let seed = 7;
    const f32 = (name: string, shape: number[]) => {
      const values = new Float32Array(shape.reduce((x, y) => x * y, 1)).map(() => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.1);
      return { name, dtype: 'F32' as const, shape, data: new Uint8Array(values.buffer) };
    };
    const p = 'model.layers.0.';
    writeSafetensors(join(model, 'model.safetensors'), [
      f32('model.embed_tokens.weight', [16400, 64]), f32(`${p}input_layernorm.weight`, [64]), f32(`${p}self_attn.q_proj.weight`, [64, 64]),
      f32(`${p}self_attn.k_proj.weight`, [32, 64]), f32(`${p}self_attn.v_proj.weight`, [32, 64]), f32(`${p}self_attn.o_proj.weight`, [64, 64]),
      f32(`${p}post_attention_layernorm.weight`, [64]), f32(`${p}mlp.gate_proj.weight`, [128, 64]), f32(`${p}mlp.up_proj.weight`, [128, 64]),
      f32(`${p}mlp.down_proj.weight`, [64, 128]), f32('model.norm.weight', [64]),
    ]);
    const converted = readModel(model, { tokenizer: DEFAULT_MODEL_PATH }); // (any vocabulary: the file is not loaded)
    const data = readTensorData(converted, converted.tensors);
    const gguf = join(dir, 'wide-vocab.gguf');
    writeGguf(gguf, { metadata: converted.metadata, tensors: converted.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: data.get(t.name)! })) });
    for (const threads of [1, 2]) {
      const fromHf = join(dir, `wide-hf-${threads}.gguf`);
      const fromGguf = join(dir, `wide-gguf-${threads}.gguf`);
      const chunks: string[] = [];
      await quantizeModelFile(model, fromHf, { format: 'Q8_0', threads, tokenizer: DEFAULT_MODEL_PATH, onProgress: (_d, _t, name) => void chunks.push(name) });
      expect(chunks.filter((n) => n === 'token_embd.weight')).toHaveLength(2);
      await quantizeModelFile(gguf, fromGguf, { format: 'Q8_0', threads });
      expect(readFileSync(fromHf).equals(readFileSync(fromGguf)), `${threads} threads`).toBe(true);
    }
  }, 60_000);
});

describe('quantize from a Hugging Face directory with a tensor in a dtype Peregrine cannot read', () => {
  it('refuses it with UNSUPPORTED_TENSOR_TYPE and writes nothing', async () => {
    const model = join(dir, 'int8-model');
    mkdirSync(model);
    writeFileSync(join(model, 'config.json'), JSON.stringify({
      model_type: 'llama', hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2,
      num_key_value_heads: 2, vocab_size: 16, max_position_embeddings: 64, rms_norm_eps: 1e-5, tie_word_embeddings: true,
    }));
    writeSafetensors(join(model, 'model.safetensors'), [
      { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [16, 8], data: new Uint8Array(16 * 8 * 4) },
      { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'I8', shape: [8, 8], data: new Uint8Array(64) },
    ]);
    const out = join(dir, 'int8-q8.gguf');
    const before = readdirSync(dir);
    const err = await quantizeModelFile(model, out, { format: 'Q8_0', threads: 1 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as ModelLoadError).code).toBe('UNSUPPORTED_TENSOR_TYPE');
    expect((err as Error).message).toMatch(/dtype I8/);
    expect(readdirSync(dir)).toEqual(before);
  });
});

describe.skipIf(!HAS_SHARED || !existsSync(STORIES_HF))('quantize from a Hugging Face directory without a vocabulary', () => {
  it('refuses it (the file could not load) unless a tokenizer is named', async () => {
    const out = join(dir, 'no-vocab.gguf');
    const err = await quantizeModelFile(STORIES_HF, out, { format: 'Q8_0', threads: 1 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as Error).message).toMatch(/no tokenizer\.json/);
    expect(existsSync(out)).toBe(false);
  });
});
