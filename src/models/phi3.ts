import { ModelLoadError } from '../errors/engine-error.js';
import { MetadataReader, type GgufFile } from '../formats/gguf/index.js';
import type { KernelBackend, RopeParams } from '../kernels/kernel-backend.js';
import { readGgufConfig } from './gguf-config.js';
import { LlamaModel } from './llama.js';
import { defaultContextSize, validateModelConfig, type ModelConfig } from './model-config.js';
import type { ModelShard } from './model-shard.js';
import type { WeightLoader } from './weight-loader.js';

/** llama.cpp rounds a context up to a multiple of this before it compares it with the original one */
const LLAMA_CPP_CONTEXT_PAD = 256;

/** Phi-3's LongRoPE settings (absent from Phi-3 mini 4k, whose rope is plain) */
export interface Phi3RopeScaling {
  /** `phi3.rope.scaling.original_context_length` (default: the trained context), llama.cpp's n_ctx_orig_yarn */
  readonly originalContextLength: number;
  /** `phi3.rope.scaling.attn_factor` (default 1): cos and sin × this, short and long alike */
  readonly attnFactor: number;
}

/**
 * Phi-3 hyperparameters (Phi-3 / 3.5 mini and medium, Phi-4 and Phi-4-mini: GGUF arch 'phi3'), as
 * llama.cpp reads them: the common keys, NEOX rope over `phi3.rope.dimension_count` dims (Phi-4-mini
 * rotates 96 of its 128), SwiGLU, q × 1/√headDim after rope, LongRoPE's original context and
 * attention factor. `phi3.attention.sliding_window` is ignored, as llama.cpp does (it turns Phi's
 * window off: llama.cpp PR 13676), so the logits are llama.cpp's. The output projection is
 * [hidden, hidden] in llama.cpp, so numHeads · headDim must be the hidden size.
 */
export function parsePhi3Config(file: GgufFile): ModelConfig & { readonly ropeScaling: Phi3RopeScaling } {
  const base = readGgufConfig(file, 'phi3', 'neox');
  const meta = new MetadataReader(file.metadata, file.path);
  const bad = (what: string): never => {
    throw new ModelLoadError('BAD_TENSOR_SHAPE', `${file.path}: invalid phi3 hyperparameters: ${what}`);
  };
  if (base.numHeads * base.headDim !== base.hiddenSize) bad(`head_count ${base.numHeads} × head dim ${base.headDim} is not embedding_length ${base.hiddenSize}`);
  const originalContextLength = meta.number('phi3.rope.scaling.original_context_length', base.contextLength);
  if (!Number.isInteger(originalContextLength) || originalContextLength <= 0) bad(`rope.scaling.original_context_length = ${originalContextLength} (must be a positive integer)`);
  const attnFactor = meta.number('phi3.rope.scaling.attn_factor', 1);
  if (!(attnFactor > 0 && Number.isFinite(attnFactor))) bad(`rope.scaling.attn_factor = ${attnFactor} (must be finite and > 0)`);
  const hasAttentionBias = file.tensors.some((t) => t.name === 'blk.0.attn_q.bias');
  const config = {
    ...base,
    activation: 'silu' as const,
    hasAttentionBias,
    queryScale: Math.fround(1 / Math.fround(Math.sqrt(base.headDim))),
    ropeScaling: { originalContextLength, attnFactor: Math.fround(attnFactor) },
  };
  validateModelConfig(config, file.path);
  return config;
}

/**
 * Which LongRoPE factors a context of `contextSize` tokens per sequence uses, by llama.cpp's rule
 * (llama_model::get_rope_factors): the long ones when its context, rounded up to a multiple of 256
 * as llama.cpp rounds n_ctx, exceeds the original context; the short ones otherwise.
 */
export function choosePhi3RopeFactors(contextSize: number, scaling: Phi3RopeScaling): 'short' | 'long' {
  const padded = Math.ceil(contextSize / LLAMA_CPP_CONTEXT_PAD) * LLAMA_CPP_CONTEXT_PAD;
  return padded > scaling.originalContextLength ? 'long' : 'short';
}

/**
 * Phi-3 decoder (llama.cpp's src/models/phi3.cpp): Llama's pre-norm layers (LlamaModel) with q, k and v
 * in one matrix (blk.N.attn_qkv, or separate q/k/v where a file has them) and gate and up in one
 * (blk.N.ffn_up: [2 · ffnSize] rows, gate first; llama.cpp's LLM_FFN_SWIGLU with no gate tensor), both
 * used as read (with a tensor shard, this rank's heads and features of each part: FusedLinear.load); rope with the LongRoPE factors the context size picks (rope_factors_short /
 * rope_factors_long, one pair for all layers) and the attention factor; tied or untied output.
 */
export class Phi3Model extends LlamaModel {
  /** the rope factors in use, by the context size */
  readonly ropeFactors: 'short' | 'long' | 'none';

  constructor(
    config: ModelConfig & { readonly ropeScaling: Phi3RopeScaling },
    file: GgufFile,
    backend: KernelBackend,
    /** tokens of context per sequence (default as Model.load's) */
    contextSize = defaultContextSize(config.contextLength),
    shard?: ModelShard,
  ) {
    let ropeFactors: 'short' | 'long' | 'none' = 'none';
    const rope = (w: WeightLoader): RopeParams => {
      // llama.cpp loads both (either may be absent) and uses the chosen one, or none when it is absent
      const numFactors = config.rope.numRotaryDims / 2;
      const factors = { short: w.optionalVector('rope_factors_short.weight', numFactors), long: w.optionalVector('rope_factors_long.weight', numFactors) };
      for (const [which, values] of Object.entries(factors)) {
        if (values?.some((f) => !(f > 0 && Number.isFinite(f)))) {
          throw new ModelLoadError('BAD_TENSOR_SHAPE', `${file.path}: rope_factors_${which}.weight has a factor that is not finite and > 0`);
        }
      }
      const choice = choosePhi3RopeFactors(contextSize, config.ropeScaling);
      const freqFactors = factors[choice];
      ropeFactors = freqFactors ? choice : 'none';
      return { ...config.rope, freqFactors, attnFactor: config.ropeScaling.attnFactor };
    };
    super(config, file, backend, { rope, gateUp: 'ffn_up' }, shard);
    this.ropeFactors = ropeFactors;
  }
}

/** A Phi-3 model whose LongRoPE factors suit `contextSize` tokens per sequence (`shard`: one worker's part of it). */
export function createPhi3Model(file: GgufFile, backend: KernelBackend, options: { readonly contextSize?: number; readonly shard?: ModelShard } = {}): Phi3Model {
  const config = parsePhi3Config(file);
  return new Phi3Model(config, file, backend, options.contextSize, options.shard);
}
