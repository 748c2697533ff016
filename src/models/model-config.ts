import { ModelLoadError } from '../errors/engine-error.js';
import type { RopeParams } from '../kernels/kernel-backend.js';

/** The gated MLP's activation: silu(gate) · up (Llama, Mistral, Qwen) or gelu(gate) · up (Gemma). */
export type Activation = 'silu' | 'gelu';

/**
 * Shapes and hyperparameters of a decoder-only transformer, whatever its architecture. Each
 * architecture file fills it from its GGUF metadata; the shared blocks read only this.
 *
 * The optional fields are features some architectures have; absent means the plain Llama form.
 * `validateModelConfig` refuses those the kernels cannot run yet, so a model that needs one fails
 * at load instead of computing something else.
 */
export interface ModelConfig {
  /** GGUF `general.architecture` */
  readonly architecture: string;
  /** width of the residual stream */
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  /** the MLP's inner width (rows of gate and of up) */
  readonly ffnSize: number;
  readonly vocabSize: number;
  /** tokens the model was trained on */
  readonly contextLength: number;
  /** RMS norm epsilon */
  readonly normEps: number;
  readonly rope: RopeParams;
  /** default 'silu' */
  readonly activation?: Activation;
  /** the q, k and v projections have bias vectors (Qwen2); default false */
  readonly hasAttentionBias?: boolean;
  /** q and k are RMS-normed per head before rope (Qwen3, Gemma 3); default false */
  readonly hasQkNorm?: boolean;
  /** norms multiply by (1 + weight) instead of weight (Gemma); default 0 */
  readonly normWeightOffset?: number;
  /** attention scores become cap · tanh(score / cap) (Gemma 2; AttentionShape.softcap) */
  readonly attentionSoftcap?: number;
  /** logits become cap · tanh(logit / cap) (Gemma 2) */
  readonly finalLogitSoftcap?: number;
  /** a query attends to at most this many most recent positions (Mistral v0.1, Gemma 2/3 local layers) */
  readonly slidingWindow?: number;
  /**
   * which layers have the window, as llama.cpp's swa pattern n: layer i when i % n < n - 1 (Gemma 2:
   * 2, every other layer from layer 0; Gemma 3: 6, five local layers then a global one); 0 or
   * absent: every layer. See isSlidingWindowLayer.
   */
  readonly slidingWindowPattern?: number;
  /** the rope of the sliding-window layers (Gemma 3: base 10000, no scaling); absent: `rope` */
  readonly localRope?: RopeParams;
  /** the token embeddings are multiplied by this (Gemma: √hiddenSize) */
  readonly embeddingScale?: number;
  /**
   * q is multiplied by this after rope and attention's own scale is 1 (Gemma: llama.cpp's
   * f_attention_scale, 1/√query_pre_attn_scalar); absent: scores × 1/√headDim
   */
  readonly queryScale?: number;
  /** each attention and MLP output is RMS-normed before it joins the residual stream (Gemma 2/3) */
  readonly hasPostNorms?: boolean;
}

/** Model.load's context per sequence when none is asked for: the trained one, at most this */
export const DEFAULT_MAX_CONTEXT = 4096;

/** the context size a model gets when its caller names none (the trained context, capped) */
export function defaultContextSize(contextLength: number): number {
  return Math.min(contextLength, DEFAULT_MAX_CONTEXT);
}

/** whether layer `i` attends within config.slidingWindow (llama.cpp's hparams.is_swa) */
export function isSlidingWindowLayer(config: ModelConfig, i: number): boolean {
  if (config.slidingWindow === undefined) return false;
  const n = config.slidingWindowPattern ?? 0;
  return n === 0 || i % n < n - 1;
}

/**
 * Throws ModelLoadError('UNSUPPORTED_ARCHITECTURE') naming every feature of `config` that the
 * kernels cannot run yet; returns the config otherwise.
 */
export function validateModelConfig(config: ModelConfig, path: string): ModelConfig {
  const unsupported: string[] = [];
  // GGUF stores Gemma's norms as 1 + w already (llama.cpp's converter adds the 1)
  if ((config.normWeightOffset ?? 0) !== 0) unsupported.push(`norm weight offset ${config.normWeightOffset}`);
  if (unsupported.length > 0) {
    throw new ModelLoadError(
      'UNSUPPORTED_ARCHITECTURE',
      `${path}: ${config.architecture} needs ${unsupported.join(', ')}, which Peregrine's kernels do not support yet`,
    );
  }
  return config;
}
