import { ModelLoadError } from '../errors/engine-error.js';
import { MetadataReader, type GgufFile } from '../formats/gguf/index.js';
import type { KernelBackend } from '../kernels/kernel-backend.js';
import type { DecoderModel } from './decoder-model.js';
import { createGemma2Model, parseGemma2Config } from './gemma2.js';
import { createGemma3Model, parseGemma3Config } from './gemma3.js';
import { LlamaModel, parseLlamaConfig } from './llama.js';
import type { ModelConfig } from './model-config.js';
import type { ModelShard } from './model-shard.js';
import { createPhi3Model, parsePhi3Config } from './phi3.js';
import { createQwen2Model, parseQwen2Config } from './qwen2.js';
import { createQwen3Model, parseQwen3Config } from './qwen3.js';

/** what a model may depend on beyond its file */
export interface CreateModelOptions {
  /** tokens of context per sequence the model will run with (Phi-3 picks its LongRoPE factors by it) */
  readonly contextSize?: number;
  /** load one parallel worker's part of the model only (src/parallel/sharded-model.ts runs it) */
  readonly shard?: ModelShard;
}

interface Architecture {
  /** the whole model's hyperparameters, from the file's metadata */
  readonly parseConfig: (file: GgufFile) => ModelConfig;
  readonly create: (file: GgufFile, backend: KernelBackend, options: CreateModelOptions) => DecoderModel;
}

/**
 * Architectures by GGUF `general.architecture`. Adding one means adding its file (config from
 * metadata, weights, forward composed from ./blocks) and a line here; a forward written as
 * DecoderModel's forwardLayers runs whole and sharded (tensor and pipeline parallelism) alike.
 */
const ARCHITECTURES = new Map<string, Architecture>([
  ['llama', { parseConfig: parseLlamaConfig, create: (file, backend, o) => new LlamaModel(parseLlamaConfig(file), file, backend, {}, o.shard) }],
  ['qwen2', { parseConfig: parseQwen2Config, create: createQwen2Model }],
  ['qwen3', { parseConfig: parseQwen3Config, create: createQwen3Model }],
  ['gemma2', { parseConfig: parseGemma2Config, create: createGemma2Model }],
  ['gemma3', { parseConfig: parseGemma3Config, create: createGemma3Model }],
  ['phi3', { parseConfig: parsePhi3Config, create: createPhi3Model }],
]);

export const SUPPORTED_ARCHITECTURES: readonly string[] = [...ARCHITECTURES.keys()];

function architectureOf(file: GgufFile): Architecture {
  const arch = new MetadataReader(file.metadata, file.path).string('general.architecture');
  const found = ARCHITECTURES.get(arch);
  if (!found) {
    throw new ModelLoadError(
      'UNSUPPORTED_ARCHITECTURE',
      `${file.path}: architecture '${arch}' is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`,
    );
  }
  return found;
}

/** The model's hyperparameters as its architecture reads them, without loading a weight. */
export function readModelConfig(file: GgufFile): ModelConfig {
  return architectureOf(file).parseConfig(file);
}

export function createModel(file: GgufFile, backend: KernelBackend, options: CreateModelOptions = {}): DecoderModel {
  return architectureOf(file).create(file, backend, options);
}
