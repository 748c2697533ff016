/**
 * Peregrine's decode and prefill tokens/s on one model file, as `npm run bench` measures them
 * (bench/decode-prefill.ts) and `npm run bench:formats` (bench/formats.ts) reuses: the model loaded
 * on the native backend, a short warm-up (first touch of the weights), the prompt prefilled once
 * (tokens/s = prompt tokens / wall time of a one-token completion), then `numDecode` greedy tokens
 * after the prompt's first 8 (tokens/s from the first token to the last).
 */
import { loadModel } from '../src/api/index.js';

export interface SpeedMeasurement {
  readonly decodeTokensPerSecond: number;
  readonly prefillTokensPerSecond: number;
}

export interface SpeedOptions {
  readonly threads: number;
  /** tokens generated (one more is asked for: the first only starts the clock) */
  readonly numDecode: number;
  /** the model's context: at least prompt.length + numDecode */
  readonly contextSize: number;
}

/** `n` deterministic ordinary tokens (skips the first 256 byte tokens and the specials at the end of the vocabulary). */
export function promptTokens(n: number, vocabSize: number): number[] {
  return Array.from({ length: n }, (_, i) => 1000 + ((i * 7919) % (vocabSize - 2000)));
}

export async function measurePeregrineSpeed(path: string, prompt: readonly number[], o: SpeedOptions): Promise<SpeedMeasurement> {
  const model = await loadModel(path, { contextSize: o.contextSize, backend: 'native', threads: o.threads });
  try {
    // warm-up: first touch of the weights
    await model.complete(prompt.slice(0, 8), { temperature: 0, maxTokens: 2 });

    let t0 = performance.now();
    await model.complete(prompt, { temperature: 0, maxTokens: 1 });
    const prefillSeconds = (performance.now() - t0) / 1000;

    let first = 0;
    let count = 0;
    t0 = performance.now();
    for await (const chunk of model.generate(prompt.slice(0, 8), { temperature: 0, maxTokens: o.numDecode + 1, ignoreEos: true })) {
      if (chunk.tokenIds.length === 0) continue;
      if (count === 0) first = performance.now();
      count += chunk.tokenIds.length;
    }
    const decodeSeconds = (performance.now() - first) / 1000;
    return { prefillTokensPerSecond: prompt.length / prefillSeconds, decodeTokensPerSecond: (count - 1) / decodeSeconds };
  } finally {
    model.dispose();
  }
}
