import type { DeviceBuffer, KernelBackend, KvCache } from '../kernels/kernel-backend.js';
import type { ForwardBatch } from './forward-batch.js';
import type { ModelConfig } from './model-config.js';

/**
 * What the runner needs from any decoder-only architecture. The model's weights and scratch
 * buffers live on `backend` and are the model's own (dispose() frees them); the backend is not
 * (whoever created it disposes it, after the model).
 */
export interface CausalLM extends Disposable {
  readonly config: ModelConfig;
  /** the backend the weights were uploaded to and the forward pass runs on */
  readonly backend: KernelBackend;
  /**
   * Runs the batch, writing K/V into `kv` (allocated on this model's backend). Returns
   * [batch.logitRows.length, vocabSize] logits on the backend, in a buffer the model reuses: valid
   * until its next forward (read them on the host with backend.read: one read per step).
   */
  forward(batch: ForwardBatch, kv: KvCache): DeviceBuffer;
  /**
   * [batch.hiddenRows.length, hiddenSize] the last forward's final hidden states (after the output
   * norm, no LM head) at its batch's hiddenRows, on the backend, in a buffer the model reuses: valid until its next forward
   */
  hiddenRows(): DeviceBuffer;
  /** the argmax of each of the first numRows rows of forward's logits (on the backend), in a host buffer reused likewise */
  argmaxRows(logits: DeviceBuffer, numRows: number): Int32Array;
  /** frees the weights and scratch buffers this model put on its backend; twice is harmless */
  dispose(): void;
}
