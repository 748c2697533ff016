import type { ServingEngine } from '../engine/serving-engine.js';
import type { BenchEngine } from './scenario.js';

/** Peregrine's serving engine as a benchmark target: greedy, EOS ignored, exactly maxTokens tokens. */
export function peregrineBenchEngine(engine: ServingEngine): BenchEngine {
  return {
    async *generate(promptIds, maxTokens) {
      for await (const chunk of engine.generate(promptIds, { maxTokens, temperature: 0, ignoreEos: true })) {
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
 * returns the reason instead). Requests beyond `numSequences` wait for a free sequence.
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
  const acquire = async () => free.pop() ?? new Promise<(typeof free)[number]>((resolve) => waiters.push(resolve));
  const release = (s: (typeof free)[number]): void => {
    const w = waiters.shift();
    if (w) w(s);
    else free.push(s);
  };
  return {
    name: 'llama.cpp (node-llama-cpp)',
    engine: {
      async *generate(promptIds, maxTokens) {
        const sequence = await acquire();
        try {
          await sequence.clearHistory();
          let n = 0;
          for await (const _token of sequence.evaluate(promptIds as never, { temperature: 0, yieldEogToken: true })) {
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
