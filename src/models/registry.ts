import { ModelLoadError } from '../errors/engine-error.js';
import { MetadataReader, type GgufFile } from '../formats/gguf/index.js';
import type { KernelBackend } from '../kernels/kernel-backend.js';
import type { CausalLM } from './causal-lm.js';
import { createGemma2Model } from './gemma2.js';
import { createGemma3Model } from './gemma3.js';
import { LlamaModel, parseLlamaConfig } from './llama.js';
import { createPhi3Model } from './phi3.js';
import { createQwen2Model } from './qwen2.js';
import { createQwen3Model } from './qwen3.js';

/** what a model may depend on beyond its file */
export interface CreateModelOptions {
  /** tokens of context per sequence the model will run with (Phi-3 picks its LongRoPE factors by it) */
  readonly contextSize?: number;
}

type ModelFactory = (file: GgufFile, backend: KernelBackend, options: CreateModelOptions) => CausalLM;

/**
 * Architectures by GGUF `general.architecture`. Adding one means adding its file (config from
 * metadata, weights, forward composed from ./blocks) and a line here.
 */
const ARCHITECTURES = new Map<string, ModelFactory>([
  ['llama', (file, backend) => new LlamaModel(parseLlamaConfig(file), file, backend)],
  ['qwen2', createQwen2Model],
  ['qwen3', createQwen3Model],
  ['gemma2', createGemma2Model],
  ['gemma3', createGemma3Model],
  ['phi3', createPhi3Model],
]);

export const SUPPORTED_ARCHITECTURES: readonly string[] = [...ARCHITECTURES.keys()];

export function createModel(file: GgufFile, backend: KernelBackend, options: CreateModelOptions = {}): CausalLM {
  const arch = new MetadataReader(file.metadata, file.path).string('general.architecture');
  const factory = ARCHITECTURES.get(arch);
  if (!factory) {
    throw new ModelLoadError(
      'UNSUPPORTED_ARCHITECTURE',
      `${file.path}: architecture '${arch}' is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`,
    );
  }
  return factory(file, backend, options);
}
