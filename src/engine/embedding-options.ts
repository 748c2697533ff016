import { InvalidRequestError } from '../errors/engine-error.js';
import type { ModelInfo } from '../models/model-info.js';
import type { PoolingType } from '../scheduler/request.js';

export type { PoolingType };

export const POOLING_TYPES: readonly PoolingType[] = ['mean', 'last', 'cls'];

export interface EmbeddingOptions {
  /**
   * how the prompt's final hidden states (after the output norm) become one vector: 'mean' of all
   * tokens, the 'last' token's (what llama.cpp returns for a model without a pooling type), or the
   * first token's ('cls'). Default: the GGUF's `{arch}.pooling_type` when it names one of these
   * (embedding models such as Qwen3-Embedding say 'last'), else 'mean'.
   */
  readonly pooling?: PoolingType;
  /** L2-normalize the vector (default true) */
  readonly normalize?: boolean;
  /** add BOS/EOS to text inputs as the model's metadata says (default true) */
  readonly addSpecial?: boolean;
  readonly signal?: AbortSignal;
}

export interface EmbeddingResult {
  /** [hiddenSize] */
  readonly embedding: Float32Array;
  /** tokens of the input */
  readonly numTokens: number;
}

/** llama.cpp's enum llama_pooling_type values that name a pooling of ours */
const GGUF_POOLING_TYPES: ReadonlyMap<unknown, PoolingType> = new Map([
  [1, 'mean'],
  [2, 'cls'],
  [3, 'last'],
]);

/** The pooling a model's GGUF asks for (`{arch}.pooling_type`), else 'mean'. */
export function defaultPooling(info: ModelInfo): PoolingType {
  return GGUF_POOLING_TYPES.get(info.hyperparameters.pooling_type) ?? 'mean';
}

export function validateEmbeddingOptions(o: EmbeddingOptions): void {
  if (o.pooling !== undefined && !POOLING_TYPES.includes(o.pooling)) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `pooling must be one of ${POOLING_TYPES.join(', ')} (got ${String(o.pooling)})`);
  }
  if (o.normalize !== undefined && typeof o.normalize !== 'boolean') {
    throw new InvalidRequestError('INVALID_ARGUMENT', `normalize must be a boolean (got ${String(o.normalize)})`);
  }
}
