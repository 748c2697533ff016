import type { KvCacheType } from '../kernels/kernel-backend.js';
import { KV_BLOCK_SIZE, KvStorage } from '../kernels/kv-storage.js';
import type { CausalLM } from '../models/causal-lm.js';
import { Workspace } from '../models/workspace.js';
import { buildForwardBatch } from './build-forward-batch.js';

/**
 * Logits after every token of `tokenIds` from position `fromPosition` on
 * ([tokenIds.length − fromPosition][vocabSize]), in one forward pass over a KV cache of its own
 * (for parity tests and scoring; no scheduler, no sampling). Earlier positions are computed but
 * get no LM head (`peregrine eval` scores only a window's second half).
 */
export function evaluateLogits(network: CausalLM, tokenIds: readonly number[], kvCacheType: KvCacheType, fromPosition = 0): Float32Array[] {
  const c = network.config;
  const n = tokenIds.length;
  const numRows = Math.max(0, n - fromPosition);
  const numBlocks = Math.ceil(n / KV_BLOCK_SIZE);
  const kv = new KvStorage(c.numLayers, c.numKvHeads * c.headDim, numBlocks, KV_BLOCK_SIZE, kvCacheType);
  const blockTable = Int32Array.from({ length: numBlocks }, (_, i) => i);
  const batch = buildForwardBatch([{ tokenIds, startPosition: 0, blockTable, logitRows: Array.from({ length: numRows }, (_, i) => fromPosition + i) }], kv, new Workspace());
  const logits = network.forward(batch, kv); // [numRows, vocabSize] f32
  return Array.from({ length: numRows }, (_, i) => logits.slice(i * c.vocabSize, (i + 1) * c.vocabSize));
}
