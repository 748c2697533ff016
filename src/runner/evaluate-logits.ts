import type { KvCacheType } from '../kernels/kernel-backend.js';
import { KV_BLOCK_SIZE, KvStorage } from '../kernels/kv-storage.js';
import type { CausalLM } from '../models/causal-lm.js';
import { Workspace } from '../models/workspace.js';
import { buildForwardBatch } from './build-forward-batch.js';

/**
 * Logits after every token of `tokenIds` ([tokenIds.length][vocabSize]), in one forward pass
 * over a KV cache of its own (for parity tests and scoring; no scheduler, no sampling).
 */
export function evaluateLogits(network: CausalLM, tokenIds: readonly number[], kvCacheType: KvCacheType): Float32Array[] {
  const c = network.config;
  const n = tokenIds.length;
  const numBlocks = Math.ceil(n / KV_BLOCK_SIZE);
  const kv = new KvStorage(c.numLayers, c.numKvHeads * c.headDim, numBlocks, KV_BLOCK_SIZE, kvCacheType);
  const blockTable = Int32Array.from({ length: numBlocks }, (_, i) => i);
  const batch = buildForwardBatch([{ tokenIds, startPosition: 0, blockTable, logitRows: Array.from({ length: n }, (_, i) => i) }], kv, new Workspace());
  const logits = network.forward(batch, kv);
  return Array.from({ length: n }, (_, i) => logits.slice(i * c.vocabSize, (i + 1) * c.vocabSize));
}
