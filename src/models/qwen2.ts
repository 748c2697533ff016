import { ModelLoadError } from '../errors/engine-error.js';
import type { GgufFile } from '../formats/gguf/index.js';
import type { KernelBackend } from '../kernels/kernel-backend.js';
import { readGgufConfig } from './gguf-config.js';
import { LlamaModel } from './llama.js';
import { validateModelConfig, type ModelConfig } from './model-config.js';
import type { ModelShard } from './model-shard.js';

/**
 * Qwen2 hyperparameters (Qwen1.5, Qwen2, Qwen2.5; GGUF arch 'qwen2'): the common `qwen2.*` keys,
 * NEOX rope (llama.cpp's LLAMA_ROPE_TYPE_NEOX: x[i] pairs with x[i + d/2]), SwiGLU, and biases on
 * the q, k and v projections (blk.N.attn_{q,k,v}.bias; llama.cpp loads them when present, and
 * every Qwen2 checkpoint has them).
 */
export function parseQwen2Config(file: GgufFile): ModelConfig {
  // llama.cpp adds an optional output.bias to the logits; no released Qwen2 has one, neither do we
  if (file.tensors.some((t) => t.name === 'output.bias')) {
    throw new ModelLoadError('UNSUPPORTED_ARCHITECTURE', `${file.path}: qwen2 with an output bias (output.bias) is not supported yet`);
  }
  const hasAttentionBias = file.tensors.some((t) => t.name === 'blk.0.attn_q.bias');
  return validateModelConfig({ ...readGgufConfig(file, 'qwen2', 'neox'), activation: 'silu', hasAttentionBias }, file.path);
}

/**
 * A Qwen2 model: Llama's layers (pre-norm attention and SwiGLU MLP, tied or untied output), which
 * LlamaModel composes from the shared blocks; the differences are all in the config.
 */
export function createQwen2Model(file: GgufFile, backend: KernelBackend, options: { readonly shard?: ModelShard } = {}): LlamaModel {
  return new LlamaModel(parseQwen2Config(file), file, backend, {}, options.shard);
}
