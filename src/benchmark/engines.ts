import type { ServingEngine } from '../engine/serving-engine.js';
import type { BenchEngine } from './scenario.js';

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

export interface PeerEngine {
  readonly name: string;
  readonly engine: BenchEngine;
  dispose(): Promise<void>;
}

export interface PeerOptions {
  readonly threads: number;
  /** parallel sequences (llama.cpp's counterpart of maxNumSeqs) */
  readonly numSequences: number;
  /** tokens of context per sequence */
  readonly contextSize: number;
}

/**
 * llama.cpp through node-llama-cpp (a devDependency: absent from a user's install, then this
 * returns the reason instead). Requests beyond `numSequences` wait for a free sequence; an abort
 * drops a waiting request and stops a running one at its next token.
 */
export async function openLlamaCppPeer(modelPath: string, options: PeerOptions): Promise<PeerEngine | string> {
  let lib: typeof import('node-llama-cpp');
  try {
    lib = await import('node-llama-cpp');
  } catch (err) {
    return `node-llama-cpp is not installed (${(err as Error).message.split('\n')[0]})`;
  }
  const llama = await lib.getLlama({ gpu: false, build: 'never', logLevel: lib.LlamaLogLevel.error, maxThreads: 0, progressLogs: false, skipDownload: true });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: options.numSequences * options.contextSize,
    sequences: options.numSequences,
    batchSize: 512,
    threads: options.threads,
    flashAttention: 'auto',
  });
  const free = Array.from({ length: options.numSequences }, () => context.getSequence());
  const waiters: ((s: (typeof free)[number]) => void)[] = [];
  type Sequence = (typeof free)[number];
  /** a free sequence, or undefined once `signal` aborts while waiting */
  const acquire = async (signal: AbortSignal | undefined): Promise<Sequence | undefined> => {
    if (signal?.aborted) return undefined;
    const sequence = free.pop();
    if (sequence) return sequence;
    return new Promise<Sequence | undefined>((resolve) => {
      const onAbort = (): void => {
        waiters.splice(waiters.indexOf(waiter), 1);
        resolve(undefined);
      };
      const waiter = (s: Sequence): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(s);
      };
      waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  };
  const release = (s: Sequence): void => {
    const w = waiters.shift();
    if (w) w(s);
    else free.push(s);
  };
  return {
    name: 'llama.cpp (node-llama-cpp)',
    engine: {
      async *generate(promptIds, maxTokens, signal) {
        const sequence = await acquire(signal);
        if (!sequence) return;
        try {
          await sequence.clearHistory();
          let n = 0;
          for await (const _token of sequence.evaluate(promptIds as never, { temperature: 0, yieldEogToken: true })) {
            if (signal?.aborted) break;
            yield { numTokens: 1 };
            if (++n >= maxTokens) break;
          }
        } finally {
          release(sequence);
        }
      },
    },
    async dispose() {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}
