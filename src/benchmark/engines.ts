/**
 * The engines `peregrine bench` compares, each as a `BenchTarget`: one loaded model, opened per
 * scenario in the configuration that suits that scenario best (as MLPerf submitters tune each
 * scenario): SingleStream, one request at a time, in a context with one sequence sized for one
 * request; Offline and Server with `maxNumSeqs` parallel sequences. llama.cpp decodes much more
 * slowly inside a multi-sequence context than in a one-sequence one, so reusing the Offline
 * context for SingleStream would understate it. Every opened engine starts cold (an empty KV
 * cache, so no prefix reused from an earlier run) and is closed before the next one opens.
 */
import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import { AsyncEngine } from '../engine/async-engine.js';
import type { Model } from '../engine/model.js';
import type { ServingEngine } from '../engine/serving-engine.js';
import type { KvCacheType } from '../kernels/kernel-backend.js';
import type { MatmulPrecision } from '../kernels/native/native-backend.js';
import { numSequencesFor, type BenchScenario, type BenchTarget, type EngineConfig } from './bench-target.js';
import type { BenchEngine } from './scenario.js';

export interface TargetOptions {
  readonly threads: number;
  /** sequences for Offline and Server */
  readonly maxNumSeqs: number;
  /** tokens of context per sequence: the longest request */
  readonly contextSize: number;
  /** the KV cache element type asked for (Peregrine's model is loaded with it; llama.cpp gets the same where it has it) */
  readonly kvCacheType: KvCacheType;
}

/** llama.cpp's KV cache type for ours (its GgmlType names); fp8: none, so f16 */
export function llamaCppKvCacheType(type: KvCacheType): 'F32' | 'F16' | 'BF16' | 'Q8_0' {
  return type === 'f32' ? 'F32' : type === 'bf16' ? 'BF16' : type === 'q8_0' ? 'Q8_0' : 'F16';
}

export interface PeregrineTargetOptions extends TargetOptions {
  /** what was asked for; it takes effect only where the backend runs bf16 batches (AMX, AVX-512-BF16) */
  readonly matmulPrecision: MatmulPrecision;
  readonly maxQueueLength: number;
}

/** Peregrine's step budget (AsyncEngine's default) */
const PEREGRINE_STEP_TOKENS = 512;
const LLAMA_CPP_BATCH_SIZE = 512;

/** what the report says of the loaded model: its backend, and the matmul precision in effect there */
export type PeregrineBackend = Pick<Model, 'backendName' | 'hasBf16Batches'>;

export function peregrineScenarioConfig(scenario: BenchScenario, o: PeregrineTargetOptions, backend: PeregrineBackend): EngineConfig {
  const numSequences = numSequencesFor(scenario, o.maxNumSeqs);
  return {
    numSequences,
    contextSize: o.contextSize,
    numKvTokens: numSequences * o.contextSize,
    matmulPrecision: backend.hasBf16Batches ? 'bf16' : o.matmulPrecision === 'bf16' ? 'exact (bf16 needs AMX or AVX-512-BF16)' : 'exact',
    threads: o.threads,
    details: `${backend.backendName}, paged KV ${o.kvCacheType}, step budget ${PEREGRINE_STEP_TOKENS} tokens`,
  };
}

/**
 * Peregrine's serving engine on `model`, one per scenario run with that scenario's sequences and a
 * KV cache of exactly as many full contexts (the same capacity llama.cpp gets). Owns `model`.
 */
export function peregrineTarget(model: Model, options: PeregrineTargetOptions): BenchTarget {
  return {
    name: `Peregrine (${model.backendName})`,
    async open(scenario) {
      const config = peregrineScenarioConfig(scenario, options, model);
      const serving = new AsyncEngine(model, {
        maxNumSeqs: config.numSequences,
        numKvTokens: config.numKvTokens,
        maxNumBatchedTokens: PEREGRINE_STEP_TOKENS,
        maxQueueLength: options.maxQueueLength,
      });
      return {
        engine: peregrineBenchEngine(serving),
        config,
        // not AsyncEngine.shutdown(): it disposes the model the next scenario needs. Every request
        // of a finished run has ended or been aborted, so the scheduler is empty (waiting a moment
        // if not, so no leftover step runs into the next scenario); then its KV cache is freed.
        close: async () => {
          const isBusy = (): boolean => serving.stats().numRunning + serving.stats().numWaiting > 0;
          for (const deadline = performance.now() + 5000; isBusy() && performance.now() < deadline; ) {
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          serving.disposeKvCache(); // a model on workers runs one engine at a time: the next scenario's
        },
      };
    },
    async dispose() {
      await model.close();
    },
  };
}

/** Peregrine's serving engine as a benchmark target: greedy, EOS ignored, exactly maxTokens tokens (fewer when aborted). */
export function peregrineBenchEngine(engine: ServingEngine): BenchEngine {
  return {
    async *generate(promptIds, maxTokens, signal) {
      for await (const chunk of engine.generate(promptIds, { maxTokens, temperature: 0, ignoreEos: true, ...(signal ? { signal } : {}) })) {
        if (chunk.tokenIds.length) yield { numTokens: chunk.tokenIds.length };
      }
    },
  };
}

/** libuv's threadpool size in this process (set before Node starts; llama.cpp is fastest with 1) */
function uvThreadpoolSize(): string {
  return process.env.UV_THREADPOOL_SIZE ?? '4 (default)';
}

export function llamaCppScenarioConfig(scenario: BenchScenario, o: TargetOptions): EngineConfig {
  const numSequences = numSequencesFor(scenario, o.maxNumSeqs);
  return {
    numSequences,
    contextSize: o.contextSize,
    numKvTokens: numSequences * o.contextSize,
    matmulPrecision: 'exact',
    threads: o.threads,
    details: `KV ${llamaCppKvCacheType(o.kvCacheType).toLowerCase()}${o.kvCacheType === 'fp8' ? ' (no fp8 cache in llama.cpp)' : ''}, flash attention auto, batch ${LLAMA_CPP_BATCH_SIZE}, UV_THREADPOOL_SIZE=${uvThreadpoolSize()}`,
  };
}

/**
 * llama.cpp through node-llama-cpp (a devDependency: absent from a user's install, then this
 * returns the reason instead). Each scenario run gets its own context with that scenario's
 * sequences, disposed when it closes. Requests beyond the sequences wait for a free one; an abort
 * drops a waiting request and stops a running one at its next token.
 */
export async function openLlamaCppPeer(modelPath: string, options: TargetOptions): Promise<BenchTarget | string> {
  let lib: typeof import('node-llama-cpp');
  try {
    lib = await import('node-llama-cpp');
  } catch (err) {
    return `node-llama-cpp is not installed (${(err as Error).message.split('\n')[0]})`;
  }
  const llama = await lib.getLlama({ gpu: false, build: 'never', logLevel: lib.LlamaLogLevel.error, maxThreads: 0, progressLogs: false, skipDownload: true });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  return {
    name: 'llama.cpp (node-llama-cpp)',
    async open(scenario) {
      const config = llamaCppScenarioConfig(scenario, options);
      const context = await model.createContext({
        // with several sequences, node-llama-cpp's contextSize is their total
        contextSize: config.numKvTokens,
        sequences: config.numSequences,
        batchSize: LLAMA_CPP_BATCH_SIZE,
        threads: config.threads,
        flashAttention: 'auto',
        experimentalKvCacheKeyType: llamaCppKvCacheType(options.kvCacheType),
        experimentalKvCacheValueType: llamaCppKvCacheType(options.kvCacheType),
      });
      return { engine: sequencePoolEngine(Array.from({ length: config.numSequences }, () => context.getSequence())), config, close: () => context.dispose() };
    },
    async dispose() {
      await model.dispose();
      await llama.dispose();
    },
  };
}

/** a `BenchEngine` over a fixed set of sequences: a request takes a free one or waits (FIFO) */
function sequencePoolEngine(sequences: LlamaContextSequence[]): BenchEngine {
  const free = [...sequences];
  const waiters: ((s: LlamaContextSequence) => void)[] = [];
  /** a free sequence, or undefined once `signal` aborts while waiting */
  const acquire = async (signal: AbortSignal | undefined): Promise<LlamaContextSequence | undefined> => {
    if (signal?.aborted) return undefined;
    const sequence = free.pop();
    if (sequence) return sequence;
    return new Promise<LlamaContextSequence | undefined>((resolve) => {
      const onAbort = (): void => {
        waiters.splice(waiters.indexOf(waiter), 1);
        resolve(undefined);
      };
      const waiter = (s: LlamaContextSequence): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(s);
      };
      waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  };
  const release = (s: LlamaContextSequence): void => {
    const w = waiters.shift();
    if (w) w(s);
    else free.push(s);
  };
  return {
    async *generate(promptIds, maxTokens, signal) {
      const sequence = await acquire(signal);
      if (!sequence) return;
      try {
        await sequence.clearHistory();
        let n = 0;
        for await (const _token of sequence.evaluate(promptIds as Token[], { temperature: 0, yieldEogToken: true })) {
          if (signal?.aborted) break;
          yield { numTokens: 1 };
          if (++n >= maxTokens) break;
        }
      } finally {
        release(sequence);
      }
    },
  };
}
