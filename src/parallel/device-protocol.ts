import type { EngineError } from '../errors/engine-error.js';
import { reviveEngineError, type SerializedError } from '../errors/serialized-error.js';
import type { KvCacheType, WeightTensor } from '../kernels/kernel-backend.js';
import type { ForwardBatch } from '../models/forward-batch.js';
import type { ShardedForwardResult } from './parallel-executor.js';
import type { BackendChoice } from '../kernels/select-backend.js';
import type { MatmulPrecision } from '../kernels/native/native-backend.js';
import type { TransportKind } from './transport.js';
import { isTransportErrorCode, TransportError } from './transport-error.js';

/**
 * The messages between the parent and a worker that acts as a device (src/parallel/device-worker.ts):
 * the parent starts it with a DeviceInit, then sends commands, one at a time per worker, each
 * answered by one reply with the same id. Activations, weights and results travel as typed arrays
 * (structured clone between threads, Node's advanced serialization between processes); what the
 * workers exchange among themselves goes through their Transport, never through the parent.
 */

export interface DeviceInit {
  readonly rank: number;
  readonly worldSize: number;
  readonly transport: TransportInit;
  readonly backend: BackendChoice;
  readonly matmulPrecision: MatmulPrecision;
  /** kernel threads of this worker's backend, its own thread included */
  readonly threads: number;
  readonly peerTimeoutMs: number;
  /** how long the workers may take to connect to each other */
  readonly startTimeoutMs: number;
}

export type TransportInit =
  | { readonly kind: Extract<TransportKind, 'shared-memory'>; readonly buffer: SharedArrayBuffer; readonly ringBytes: number; readonly spinMicros: number }
  | { readonly kind: Extract<TransportKind, 'socket'>; readonly socketDir: string };

/**
 * What a worker runs. `repeat` (default 1) runs a command that many times in a row, each from
 * the same inputs, and the reply times each run (a collective's latency, a shard's decode step,
 * without the parent's round trip); the result is the last run's.
 */
export type DeviceCommand =
  | { readonly kind: 'send'; readonly to: number; readonly data: Float32Array }
  | { readonly kind: 'recv'; readonly from: number; readonly numFloats: number }
  | { readonly kind: 'allReduceSum'; readonly data: Float32Array; readonly repeat?: number }
  | { readonly kind: 'allGather'; readonly data: Float32Array }
  | { readonly kind: 'barrier' }
  /** keeps the weights (prepared for the backend) under their names, replacing any of the same name */
  | { readonly kind: 'loadWeights'; readonly weights: readonly WeightTensor[] }
  /**
   * the tensor-parallel gated MLP (src/parallel/tensor-parallel-mlp.ts) over loaded weights:
   * gateUp this rank's stacked gate and up rows, down its columns of down; x: [numTokens, hidden]
   */
  | { readonly kind: 'mlpForward'; readonly gateUp: string; readonly down: string; readonly x: Float32Array; readonly numTokens: number; readonly repeat?: number }
  /**
   * reads the model at `path` and loads this worker's shard of it under the plan (its stage and
   * TP rank from its rank: rank = stage · tensorParallel + tpRank); replaces an earlier one
   */
  | {
      readonly kind: 'loadModel';
      readonly path: string;
      readonly tensorParallel: number;
      readonly pipelineParallel: number;
      /** tokens of context per sequence (Phi-3 picks its rope factors by it) */
      readonly contextSize: number;
      readonly tokenizer?: string;
    }
  /** this worker's share of a paged KV cache (its layers and KV heads) for the loaded model */
  | { readonly kind: 'allocateKvCache'; readonly numBlocks: number; readonly blockSize: number; readonly dtype: KvCacheType }
  /** one step of the loaded model over the micro-batches; the last stage's TP rank 0 answers with the outputs */
  | { readonly kind: 'forward'; readonly microBatches: readonly ForwardBatch[] }
  /** closes the transport and disposes the backend; the worker then exits */
  | { readonly kind: 'close' };

export type DeviceResult = Float32Array | ShardedForwardResult | undefined;

export type DeviceReply =
  /** the worker is up: transport connected, backend created */
  | { readonly kind: 'ready'; readonly rank: number; readonly backendName: string; readonly hasBf16Batches: boolean }
  | { readonly kind: 'result'; readonly id: number; readonly result: DeviceResult; readonly elapsedMs: readonly number[] }
  /** id -1: the worker failed to start */
  | { readonly kind: 'error'; readonly id: number; readonly error: SerializedError };

export interface DeviceRequest {
  readonly id: number;
  readonly command: DeviceCommand;
}

/**
 * The worker's error as the parent throws it, the same class and code where it is one of the
 * project's (a TransportError for the transport codes; EngineDeadError for a subclass not known
 * here); an error without a code (a bug) becomes a TransportError WORKER_FAILED. The message names the rank.
 */
export function reviveError(e: SerializedError, rank: number): EngineError {
  const message = `worker ${rank}: ${e.message}`;
  if (e.code !== undefined && isTransportErrorCode(e.code)) return new TransportError(e.code, message);
  return reviveEngineError(e, message) ?? new TransportError('WORKER_FAILED', `${message} (${e.name})`);
}
