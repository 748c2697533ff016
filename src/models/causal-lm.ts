import type { KvStorage } from '../kernels/kv-storage.js';
import type { ForwardBatch } from './forward-batch.js';
import type { ModelConfig } from './model-config.js';

/** What the runner needs from any decoder-only architecture. */
export interface CausalLM {
  readonly config: ModelConfig;
  /** the kernel backend's name, e.g. 'native-avx512' or 'reference' */
  readonly backendName: string;
  /** [batch.logitRows.length, vocabSize] logits, in a buffer the model reuses: valid until its next forward */
  forward(batch: ForwardBatch, kv: KvStorage): Float32Array;
  /**
   * [batch.hiddenRows.length, hiddenSize] the last forward's final hidden states (after the output
   * norm, no LM head) at its batch's hiddenRows, in a buffer the model reuses: valid until its next forward
   */
  hiddenRows(): Float32Array;
  /** the argmax of each of the first numRows rows of forward's logits, in a buffer reused likewise */
  argmaxRows(logits: Float32Array, numRows: number): Int32Array;
}
