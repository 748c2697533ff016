/**
 * Writes the Hugging Face directory a synthetic GGUF was (notionally) converted from: config.json
 * with the shape's hyperparameters under transformers' names, and model.safetensors with the GGUF's
 * tensors under HF names, undoing what llama.cpp's convert_hf_to_gguf.py does: llama's q/k rows
 * back to rotate-half order, Gemma's norms back to w (GGUF stores 1 + w), rope_freqs and LongRoPE
 * factors back into config.json's rope_scaling. Loading the directory must give the GGUF's logits.
 * The mapping here is written out independently of src/formats/hf (HF's names, not a reversal of
 * the loader's table), so one mistake does not hide in both. `shards` > 1 splits the tensors over
 * that many files with a model.safetensors.index.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GgmlType } from '../formats/ggml-type.js';
import { readGguf, readTensorData, type GgufTensorInfo } from '../formats/gguf/index.js';
import type { ModelShape } from './model-shapes.js';
import { writeSafetensors, type SafetensorsTensorSpec } from './safetensors-writer.js';

export interface HfTwinOptions {
  /** safetensors files to split the tensors over (default 1: model.safetensors, no index) */
  readonly shards?: number;
}

const MODEL_TYPES: Readonly<Record<string, string>> = {
  llama: 'llama', qwen2: 'qwen2', qwen3: 'qwen3', gemma2: 'gemma2', gemma3: 'gemma3_text', phi3: 'phi3',
};

/** llama.cpp's per-layer names → transformers' (model.layers.N.<this>) */
function hfLayerName(ggufModule: string, isGemma: boolean): string | undefined {
  const names: Record<string, string> = {
    attn_norm: 'input_layernorm',
    attn_q: 'self_attn.q_proj',
    attn_k: 'self_attn.k_proj',
    attn_v: 'self_attn.v_proj',
    attn_output: 'self_attn.o_proj',
    attn_qkv: 'self_attn.qkv_proj',
    attn_q_norm: 'self_attn.q_norm',
    attn_k_norm: 'self_attn.k_norm',
    ffn_gate: 'mlp.gate_proj',
    ffn_down: 'mlp.down_proj',
    ffn_norm: isGemma ? 'pre_feedforward_layernorm' : 'post_attention_layernorm',
    post_attention_norm: 'post_attention_layernorm',
    post_ffw_norm: 'post_feedforward_layernorm',
  };
  return names[ggufModule];
}

function dtypeOf(type: GgmlType): SafetensorsTensorSpec['dtype'] {
  if (type === GgmlType.F32) return 'F32';
  if (type === GgmlType.F16) return 'F16';
  if (type === GgmlType.BF16) return 'BF16';
  throw new Error(`hf twin: tensor type ${type} has no safetensors dtype (write the GGUF as F32, F16 or BF16)`);
}

/** GGUF row 2i + p back to HF row p·d/2 + i, in each head of d rows */
function unpermuteHeads(bytes: Uint8Array, numRows: number, numHeads: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  const rowBytes = bytes.length / numRows;
  const headDim = numRows / numHeads;
  const half = headDim / 2;
  for (let h = 0; h < numHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let p = 0; p < 2; p++) {
        const from = (h * headDim + 2 * i + p) * rowBytes;
        const to = (h * headDim + p * half + i) * rowBytes;
        out.set(bytes.subarray(from, from + rowBytes), to);
      }
    }
  }
  return out;
}

function minusOne(bytes: Uint8Array): Uint8Array {
  const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  for (let i = 0; i < values.length; i++) values[i] = values[i]! - 1;
  return new Uint8Array(values.buffer);
}

/** Writes `dir` (created) as the HF twin of the synthetic GGUF at `ggufPath`, whose shape is `shape`. */
export function writeHfTwin(ggufPath: string, shape: ModelShape, dir: string, options: HfTwinOptions = {}): void {
  mkdirSync(dir, { recursive: true });
  const arch = shape.architecture ?? 'llama';
  const isGemma = arch === 'gemma2' || arch === 'gemma3';
  const file = readGguf(ggufPath);
  const data = readTensorData(file, file.tensors);
  const tensors: SafetensorsTensorSpec[] = [];
  const ropeFactors = new Map<string, Float32Array>();
  for (const info of file.tensors) {
    let bytes = data.get(info.name)!;
    if (info.name === 'rope_freqs.weight' || info.name.startsWith('rope_factors_')) {
      ropeFactors.set(info.name, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)));
      continue;
    }
    const name = hfName(info, arch);
    if (isGemma && info.name.endsWith('norm.weight')) bytes = minusOne(bytes);
    const rows = info.shape[1] ?? info.shape[0]!;
    if (arch === 'llama' && /\.attn_q\./.test(info.name)) bytes = unpermuteHeads(bytes, rows, shape.numHeads);
    if (arch === 'llama' && /\.attn_k\./.test(info.name)) bytes = unpermuteHeads(bytes, rows, shape.numKvHeads);
    tensors.push({ name, dtype: dtypeOf(info.type), shape: [...info.shape].reverse(), data: bytes });
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(hfConfig(shape, ropeFactors), null, 2));
  const numShards = options.shards ?? 1;
  if (numShards === 1) {
    writeSafetensors(join(dir, 'model.safetensors'), tensors);
    return;
  }
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < numShards; s++) {
    const shardName = `model-${String(s + 1).padStart(5, '0')}-of-${String(numShards).padStart(5, '0')}.safetensors`;
    const part = tensors.filter((_, i) => i % numShards === s);
    for (const t of part) weightMap[t.name] = shardName;
    writeSafetensors(join(dir, shardName), part);
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 2));
}

function hfName(info: GgufTensorInfo, arch: string): string {
  if (info.name === 'token_embd.weight') return 'model.embed_tokens.weight';
  if (info.name === 'output_norm.weight') return 'model.norm.weight';
  if (info.name === 'output.weight') return 'lm_head.weight';
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(info.name);
  // Phi-3's ffn_up holds gate and up: transformers' gate_up_proj
  const module = m?.[2] === 'ffn_up' ? (arch === 'phi3' ? 'mlp.gate_up_proj' : 'mlp.up_proj') : m && hfLayerName(m[2]!, arch === 'gemma2' || arch === 'gemma3');
  if (!m || !module) throw new Error(`hf twin: no Hugging Face name for ${info.name}`);
  return `model.layers.${m[1]}.${module}.${m[3]}`;
}

function hfConfig(shape: ModelShape, ropeFactors: ReadonlyMap<string, Float32Array>): Record<string, unknown> {
  const arch = shape.architecture ?? 'llama';
  const config: Record<string, unknown> = {
    architectures: ['SyntheticForCausalLM'],
    model_type: MODEL_TYPES[arch],
    hidden_size: shape.dim,
    intermediate_size: shape.ffnDim,
    num_hidden_layers: shape.numLayers,
    num_attention_heads: shape.numHeads,
    num_key_value_heads: shape.numKvHeads,
    head_dim: shape.headDim,
    vocab_size: shape.vocabSize,
    max_position_embeddings: shape.contextLength,
    rms_norm_eps: shape.rmsNormEps,
    rope_theta: shape.ropeTheta,
    tie_word_embeddings: shape.hasTiedEmbeddings,
    torch_dtype: 'float32',
  };
  if (shape.ropeScaling) {
    const s = shape.ropeScaling;
    config['rope_scaling'] = { rope_type: 'llama3', factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor, original_max_position_embeddings: s.originalContextLength };
  }
  if (shape.ropeLinearFactor !== undefined) config['rope_scaling'] = { rope_type: 'linear', factor: shape.ropeLinearFactor };
  if (arch === 'gemma2' || arch === 'gemma3') {
    config['sliding_window'] = shape.slidingWindow;
    config['query_pre_attn_scalar'] = shape.headDim;
    config['hidden_activation'] = 'gelu_pytorch_tanh';
  }
  if (arch === 'gemma2') {
    config['attn_logit_softcapping'] = shape.attentionSoftcap;
    config['final_logit_softcapping'] = shape.finalLogitSoftcap;
  }
  if (arch === 'gemma3') config['sliding_window_pattern'] = 6;
  if (arch === 'phi3') {
    config['partial_rotary_factor'] = (shape.ropeDims ?? shape.headDim) / shape.headDim;
    if (shape.longRope) {
      config['original_max_position_embeddings'] = shape.longRope.originalContextLength;
      config['rope_scaling'] = {
        type: 'longrope',
        short_factor: [...ropeFactors.get('rope_factors_short.weight')!],
        long_factor: [...ropeFactors.get('rope_factors_long.weight')!],
      };
    }
  }
  return config;
}
