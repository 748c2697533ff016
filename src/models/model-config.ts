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
  /** attention scores become cap · tanh(score / cap) (Gemma 2) */
  readonly attentionSoftcap?: number;
  /** logits become cap · tanh(logit / cap) (Gemma 2) */
  readonly finalLogitSoftcap?: number;
  /** a query attends to at most this many most recent positions (Mistral v0.1, Gemma 2/3 local layers) */
  readonly slidingWindow?: number;
}

/**
 * Throws ModelLoadError('UNSUPPORTED_ARCHITECTURE') naming every feature of `config` that the
 * kernels cannot run yet; returns the config otherwise.
 */
export function validateModelConfig(config: ModelConfig, path: string): ModelConfig {
  const unsupported: string[] = [];
  if ((config.activation ?? 'silu') !== 'silu') unsupported.push(`activation ${config.activation}`);
  if ((config.normWeightOffset ?? 0) !== 0) unsupported.push(`norm weight offset ${config.normWeightOffset}`);
  if (config.attentionSoftcap !== undefined) unsupported.push('attention logit soft-capping');
  if (config.finalLogitSoftcap !== undefined) unsupported.push('final logit soft-capping');
  if (config.slidingWindow !== undefined) unsupported.push('sliding-window attention');
  if (unsupported.length > 0) {
    throw new ModelLoadError(
      'UNSUPPORTED_ARCHITECTURE',
      `${path}: ${config.architecture} needs ${unsupported.join(', ')}, which Peregrine's kernels do not support yet`,
    );
  }
  return config;
}
