import type { GgufFile } from '../formats/gguf/index.js';
import type { KernelBackend } from '../kernels/kernel-backend.js';
import { readGgufConfig } from './gguf-config.js';
import { LlamaModel } from './llama.js';
import { validateModelConfig, type ModelConfig } from './model-config.js';
import type { ModelShard } from './model-shard.js';

/**
 * Qwen3 hyperparameters (dense Qwen3; GGUF arch 'qwen3'): the common `qwen3.*` keys, a head width
 * of its own (`qwen3.attention.key_length`, e.g. 128 with hidden 1024 and 16 heads), NEOX rope,
 * SwiGLU, and q and k RMS-normed per head before rope (blk.N.attn_{q,k}_norm.weight, [headDim]).
 * No q/k/v biases in released checkpoints; llama.cpp reads them when present, and so do we.
 */
export function parseQwen3Config(file: GgufFile): ModelConfig {
  const hasAttentionBias = file.tensors.some((t) => t.name === 'blk.0.attn_q.bias');
  return validateModelConfig({ ...readGgufConfig(file, 'qwen3', 'neox'), activation: 'silu', hasQkNorm: true, hasAttentionBias }, file.path);
}

/** A Qwen3 model: Llama's layers (LlamaModel, from the shared blocks) with the config's q/k norm. */
export function createQwen3Model(file: GgufFile, backend: KernelBackend, options: { readonly shard?: ModelShard } = {}): LlamaModel {
  return new LlamaModel(parseQwen3Config(file), file, backend, {}, options.shard);
}
