import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../errors/engine-error.js';
import { ReferenceBackend } from '../../kernels/reference/reference-backend.js';
import { createModel } from '../../models/registry.js';
import { writeSafetensors, type SafetensorsTensorSpec } from '../../testing/safetensors-writer.js';
import { readModel } from '../read-model.js';
import { readHfDirectory } from './hf-directory.js';

const root = mkdtempSync(join(tmpdir(), 'peregrine-hf-dir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** a one-layer llama of hidden 8, 2 heads of 4, ffn 16, vocab 16: config.json and its tensors */
const CONFIG = {
  model_type: 'llama', hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2,
  num_key_value_heads: 2, vocab_size: 16, max_position_embeddings: 64, rms_norm_eps: 1e-5, tie_word_embeddings: true,
};

function f32(name: string, shape: number[], fill = 0.01): SafetensorsTensorSpec {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => fill * ((i % 7) - 3));
  return { name, dtype: 'F32', shape, data: new Uint8Array(values.buffer) };
}

function llamaTensors(): SafetensorsTensorSpec[] {
  const p = 'model.layers.0.';
  return [
    f32('model.embed_tokens.weight', [16, 8]),
    f32(`${p}input_layernorm.weight`, [8], 1),
    f32(`${p}self_attn.q_proj.weight`, [8, 8]),
    f32(`${p}self_attn.k_proj.weight`, [8, 8]),
    f32(`${p}self_attn.v_proj.weight`, [8, 8]),
    f32(`${p}self_attn.o_proj.weight`, [8, 8]),
    f32(`${p}post_attention_layernorm.weight`, [8], 1),
    f32(`${p}mlp.gate_proj.weight`, [16, 8]),
    f32(`${p}mlp.up_proj.weight`, [16, 8]),
    f32(`${p}mlp.down_proj.weight`, [8, 16]),
    f32('model.norm.weight', [8], 1),
  ];
}

let n = 0;
function modelDir(config: object = CONFIG, tensors = llamaTensors()): string {
  const dir = join(root, `m${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  return dir;
}

function errorOf(fn: () => unknown): ModelLoadError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelLoadError);
    return e as ModelLoadError;
  }
  throw new Error('expected a ModelLoadError');
}

describe('Hugging Face directory', () => {
  it('is read as the GGUF llama.cpp converts it to: names, ggml shapes, metadata keys', () => {
    const file = readModel(modelDir());
    expect(file.metadata.get('general.architecture')?.value).toBe('llama');
    expect(file.metadata.get('llama.embedding_length')?.value).toBe(8);
    expect(file.metadata.get('llama.attention.layer_norm_rms_epsilon')?.value).toBe(Math.fround(1e-5));
    expect(file.tensors.find((t) => t.name === 'blk.0.ffn_down.weight')?.shape).toEqual([16, 8]);
    expect(file.tensors.some((t) => t.name === 'blk.0.ffn_norm.weight')).toBe(true);
    expect(file.tensors.some((t) => t.name === 'output.weight')).toBe(false); // tied
    expect(createModel(file, new ReferenceBackend()).config.numLayers).toBe(1);
  });

  it('refuses an architecture Peregrine does not run, listing the ones it does', () => {
    const e = errorOf(() => readHfDirectory(modelDir({ ...CONFIG, model_type: 'mamba' })));
    expect(e.code).toBe('UNSUPPORTED_ARCHITECTURE');
    expect(e.message).toMatch(/'mamba' is not supported \(supported: llama, mistral, qwen2, qwen3, gemma2, gemma3_text, gemma3, phi3\)/);
  });

  it('refuses settings it would compute differently: yarn rope scaling, a Gemma query scale of its own', () => {
    expect(errorOf(() => readHfDirectory(modelDir({ ...CONFIG, rope_scaling: { rope_type: 'yarn', factor: 4 } }))).message).toMatch(/rope scaling 'yarn'/);
    const gemma = { ...CONFIG, model_type: 'gemma2', head_dim: 4, sliding_window: 16, attn_logit_softcapping: 50, final_logit_softcapping: 30, query_pre_attn_scalar: 99 };
    expect(errorOf(() => readHfDirectory(modelDir(gemma))).message).toMatch(/query_pre_attn_scalar 99/);
  });

  it('refuses FP8 and other dtypes it cannot load, naming the tensor', () => {
    const tensors = llamaTensors();
    tensors[2] = { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'F8_E4M3' as 'F32', shape: [8, 8], data: new Uint8Array(64) };
    const e = errorOf(() => readHfDirectory(modelDir(CONFIG, tensors)));
    expect(e.code).toBe('UNSUPPORTED_TENSOR_TYPE');
    expect(e.message).toMatch(/q_proj.weight' has dtype F8_E4M3.*FP8/);
  });

  it('refuses a tensor the architecture does not use when the model loads, naming it', () => {
    const file = readHfDirectory(modelDir(CONFIG, [...llamaTensors(), f32('model.layers.0.mlp.extra.weight', [2])]));
    expect(errorOf(() => createModel(file, new ReferenceBackend())).message).toMatch(/model\.layers\.0\.mlp\.extra\.weight' is not used by the llama architecture/);
  });

  it('reads shards by their index and refuses inconsistent indexes', () => {
    const tensors = llamaTensors();
    const make = (weightMap: Record<string, string>): string => {
      const dir = join(root, `s${n++}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'config.json'), JSON.stringify(CONFIG));
      writeSafetensors(join(dir, 'a.safetensors'), tensors.slice(0, 5));
      writeSafetensors(join(dir, 'b.safetensors'), tensors.slice(5));
      writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
      return dir;
    };
    const good = Object.fromEntries(tensors.map((t, i) => [t.name, i < 5 ? 'a.safetensors' : 'b.safetensors']));
    expect(readHfDirectory(make(good)).tensors).toHaveLength(11);
    expect(errorOf(() => readHfDirectory(make({ ...good, 'model.norm.weight': '../b.safetensors' }))).message).toMatch(/not a \.safetensors file of the directory/);
    expect(errorOf(() => readHfDirectory(make({ ...good, 'model.norm.weight': 'a.safetensors' }))).code).toBe('SAFETENSORS_CORRUPT');
    expect(errorOf(() => readHfDirectory(make({ ...good, 'lm_head.weight': 'b.safetensors' }))).code).toBe('MISSING_TENSOR');
  });

  it('says what is missing: config.json, the weights, a tokenizer', () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    expect(errorOf(() => readModel(empty)).message).toMatch(/is a directory, not a model file nor a Hugging Face model directory \(it has no config\.json\)/);
    writeFileSync(join(empty, 'config.json'), JSON.stringify(CONFIG));
    expect(errorOf(() => readModel(empty)).message).toMatch(/neither model\.safetensors nor model\.safetensors\.index\.json/);
    const dir = modelDir();
    expect(readModel(dir).metadata.has('tokenizer.ggml.model')).toBe(false);
    writeFileSync(join(dir, 'config.json'), readFileSync(join(dir, 'config.json'), 'utf8').slice(0, 10));
    expect(errorOf(() => readModel(dir)).message).toMatch(/config\.json is not valid JSON/);
  });
});
