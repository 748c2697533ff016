import { InvalidRequestError } from '../errors/engine-error.js';
import type { PoolingType } from '../scheduler/request.js';

export type { PoolingType };

export const POOLING_TYPES: readonly PoolingType[] = ['mean', 'last', 'cls'];

export interface EmbeddingOptions {
  /**
   * how the prompt's final hidden states (after the output norm) become one vector: 'mean' of all
   * tokens (default), the 'last' token's (llama.cpp's choice for decoder models without a pooling
   * type), or the first token's ('cls')
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

export function validateEmbeddingOptions(o: EmbeddingOptions): void {
  if (o.pooling !== undefined && !POOLING_TYPES.includes(o.pooling)) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `pooling must be one of ${POOLING_TYPES.join(', ')} (got ${String(o.pooling)})`);
  }
  if (o.normalize !== undefined && typeof o.normalize !== 'boolean') {
    throw new InvalidRequestError('INVALID_ARGUMENT', `normalize must be a boolean (got ${String(o.normalize)})`);
  }
}
