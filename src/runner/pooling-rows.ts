import type { PoolingType } from '../scheduler/request.js';

/** The part of a pooling request that one step computes. */
export interface PoolingChunk {
  readonly numTokens: number;
  /** position of the chunk's first token in the request */
  readonly startPosition: number;
  /** whether the chunk ends the request's prompt */
  readonly isPrefillComplete: boolean;
}

/**
 * Rows of a chunk (0-based within it) whose final hidden states a pooling needs: every row for
 * `mean`, the prompt's last row for `last` (in the last chunk only), its first for `cls` (in the
 * first chunk only).
 */
export function poolingRows(pooling: PoolingType, chunk: PoolingChunk): number[] {
  switch (pooling) {
    case 'mean':
      return Array.from({ length: chunk.numTokens }, (_, i) => i);
    case 'last':
      return chunk.isPrefillComplete ? [chunk.numTokens - 1] : [];
    case 'cls':
      return chunk.startPosition === 0 ? [0] : [];
  }
}
