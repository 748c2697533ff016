import { ModelLoadError } from '../errors/engine-error.js';
import type { GgufFile } from '../formats/gguf/index.js';
import { MetadataReader } from '../formats/gguf/index.js';
import type { RopeParams } from '../kernels/kernel-backend.js';
import type { ModelConfig } from './model-config.js';

/**
 * The hyperparameters every GGUF decoder stores under the same `${arch}.*` keys (llama.cpp's
 * LLM_KV names), checked for values no real model has. An architecture file adds its own
 * features (rope mode, activation, ...) to the result and passes it to validateModelConfig.
 */
export function readGgufConfig(file: GgufFile, arch: string, ropeMode: RopeParams['mode']): ModelConfig {
  const meta = new MetadataReader(file.metadata, file.path);
  const key = (k: string): string => `${arch}.${k}`;
  const hiddenSize = meta.number(key('embedding_length'));
  const numHeads = meta.number(key('attention.head_count'));
  const numKvHeads = meta.number(key('attention.head_count_kv'), numHeads);
  const headDim = meta.number(key('attention.key_length'), numHeads > 0 ? hiddenSize / numHeads : 0);
  const tokens = file.metadata.get('tokenizer.ggml.tokens');
  const embd = file.tensors.find((t) => t.name === 'token_embd.weight');
  const vocabSize = meta.number(key('vocab_size'), embd?.shape[1] ?? (tokens?.value as unknown[] | undefined)?.length ?? 0);
  const scalingType = meta.string(key('rope.scaling.type'), 'none');
  const scalingFactor = meta.number(key('rope.scaling.factor'), 1);
  const config: ModelConfig = {
    architecture: arch,
    hiddenSize,
    numLayers: meta.number(key('block_count')),
    numHeads,
    numKvHeads,
    headDim,
    ffnSize: meta.number(key('feed_forward_length')),
    vocabSize,
    contextLength: meta.number(key('context_length')),
    normEps: meta.number(key('attention.layer_norm_rms_epsilon'), 1e-5),
    rope: {
      mode: ropeMode,
      numRotaryDims: meta.number(key('rope.dimension_count'), headDim),
      freqBase: meta.number(key('rope.freq_base'), 10000),
      freqScale: scalingType === 'linear' && scalingFactor > 0 ? 1 / scalingFactor : 1,
    },
  };
  const bad = (what: string): never => {
    throw new ModelLoadError('BAD_TENSOR_SHAPE', `${file.path}: invalid ${arch} hyperparameters: ${what}`);
  };
  // upper bounds far above any real model (Llama 3.1 405B: dim 16384, 126 layers, ffn 53248;
  // vocabularies up to ~262k; contexts up to ~10M), so that a corrupt count fails here and not as
  // an allocation of 2^62 layers
  const counts: [name: string, value: number, max: number][] = [
    ['embedding_length', hiddenSize, 2 ** 17],
    ['attention.head_count', numHeads, 2 ** 12],
    ['attention.head_count_kv', numKvHeads, 2 ** 12],
    ['head dim', headDim, 2 ** 12],
    ['vocab_size', vocabSize, 2 ** 23],
    ['feed_forward_length', config.ffnSize, 2 ** 20],
    ['block_count', config.numLayers, 2 ** 12],
    ['context_length', config.contextLength, 2 ** 27],
  ];
  for (const [name, v, max] of counts) {
    if (!Number.isInteger(v) || v <= 0 || v > max) bad(`${name} = ${v} (must be an integer from 1 to ${max})`);
  }
  if (numHeads % numKvHeads !== 0) bad(`head_count ${numHeads} is not a multiple of head_count_kv ${numKvHeads}`);
  // values that cannot give finite activations: a NaN, infinite or non-positive epsilon or rope
  // base makes every logit NaN (llama.cpp's files have eps 1e-6..1e-5, bases 1e4..1e6)
  if (!(config.normEps > 0 && config.normEps <= 1)) bad(`attention.layer_norm_rms_epsilon = ${config.normEps} (must be in (0, 1])`);
  if (!(config.rope.freqBase > 0 && Number.isFinite(config.rope.freqBase))) bad(`rope.freq_base = ${config.rope.freqBase} (must be finite and > 0)`);
  if (!(scalingFactor > 0 && Number.isFinite(scalingFactor))) bad(`rope.scaling.factor = ${scalingFactor} (must be finite and > 0)`);
  if (config.rope.numRotaryDims > headDim || config.rope.numRotaryDims % 2 !== 0) bad(`rope.dimension_count ${config.rope.numRotaryDims}`);
  if (scalingType !== 'none' && scalingType !== 'linear' && !(scalingType === 'yarn' && scalingFactor === 1)) {
    throw new ModelLoadError('UNSUPPORTED_ARCHITECTURE', `${file.path}: rope scaling '${scalingType}' is not supported yet`);
  }
  return config;
}
