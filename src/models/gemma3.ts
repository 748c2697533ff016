import type { GgufFile } from '../formats/gguf/index.js';
import type { KernelBackend } from '../kernels/kernel-backend.js';
import { GemmaModel, readGemmaConfig } from './gemma2.js';
import { validateModelConfig, type ModelConfig } from './model-config.js';
import type { ModelShard } from './model-shard.js';

/** llama.cpp's rope of Gemma 3's local layers (rope_freq_base_train_swa, rope_freq_scale_train_swa) */
const GEMMA3_LOCAL_ROPE_BASE = 10000;

/**
 * Gemma 3 text-model hyperparameters (GGUF arch 'gemma3'), as llama.cpp reads them: Gemma 2's
 * layers (readGemmaConfig) plus q and k RMS-normed per head, five sliding-window layers then a
 * global one (swa pattern 6; `gemma3.attention.sliding_window` is required), local layers with
 * rope base 10000 and no scaling, global layers with `gemma3.rope.freq_base` and the file's linear
 * rope scaling (`gemma3.rope.scaling.factor`, 8 in the 4B-27B models); no soft-capping (llama.cpp's
 * sliding-window gemma3 graph applies none; a final_logit_softcapping key is not read). The 27B's
 * query scale by its 62 layers.
 */
export function parseGemma3Config(file: GgufFile): ModelConfig {
  const base = readGemmaConfig(file, 'gemma3', 62);
  const config: ModelConfig = {
    ...base,
    hasQkNorm: true,
    slidingWindowPattern: 6,
    localRope: { ...base.rope, freqBase: GEMMA3_LOCAL_ROPE_BASE, freqScale: 1 },
  };
  return validateModelConfig(config, file.path);
}

/** A Gemma 3 model (text): GemmaModel with the gemma3 config (`shard`: one worker's part of it). */
export function createGemma3Model(file: GgufFile, backend: KernelBackend, options: { readonly shard?: ModelShard } = {}): GemmaModel {
  return new GemmaModel(parseGemma3Config(file), file, backend, options.shard);
}
