import type { KvCacheType } from '../kernels/kernel-backend.js';
import { KV_BLOCK_SIZE } from '../kernels/host-kv-cache.js';
import type { CausalLM } from '../models/causal-lm.js';
import { Workspace } from '../models/workspace.js';
import { buildForwardBatch } from './build-forward-batch.js';

/**
 * Logits after every token of `tokenIds` from position `fromPosition` on
 * ([tokenIds.length − fromPosition][vocabSize]), in one forward pass over a KV cache of its own,
 * allocated on the network's backend and disposed before returning (for parity tests and scoring;
 * no scheduler, no sampling). Earlier positions are computed but get no LM head (`peregrine eval`
 * scores only a window's second half).
 */
export function evaluateLogits(network: CausalLM, tokenIds: readonly number[], kvCacheType: KvCacheType, fromPosition = 0): Float32Array[] {
  const c = network.config;
  const n = tokenIds.length;
  const numRows = Math.max(0, n - fromPosition);
  const numBlocks = Math.ceil(n / KV_BLOCK_SIZE);
  const blockTable = Int32Array.from({ length: numBlocks }, (_, i) => i);
  const ws = new Workspace(network.backend);
  const kv = network.backend.allocateKvCache({ numLayers: c.numLayers, kvDim: c.numKvHeads * c.headDim, numBlocks, blockSize: KV_BLOCK_SIZE, dtype: kvCacheType });
  try {
    const batch = buildForwardBatch([{ tokenIds, startPosition: 0, blockTable, logitRows: Array.from({ length: numRows }, (_, i) => fromPosition + i) }], KV_BLOCK_SIZE, ws);
    const logits = network.backend.read(network.forward(batch, kv)); // [numRows, vocabSize] f32
    return Array.from({ length: numRows }, (_, i) => logits.slice(i * c.vocabSize, (i + 1) * c.vocabSize));
  } finally {
    kv.dispose();
    ws.dispose();
  }
}
