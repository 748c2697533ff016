import { percentile } from '../benchmark/percentiles.js';
import { AsyncEngine } from '../engine/async-engine.js';
import { loadModel, type LoadedModel } from '../engine/loaded-model.js';
import type { BackendChoice } from '../kernels/select-backend.js';
import type { TransportKind } from '../parallel/transport.js';
import type { Measurement, Measurer } from './measurer.js';
import type { PlanConfig } from './plan-config.js';

export interface ServingMeasurerOptions {
  /** prompt length of every request, in tokens */
  readonly promptTokens: number;
  /** tokens each request generates (EOS ignored) */
  readonly outputTokens: number;
  readonly parallelTransport: TransportKind;
  readonly backend?: BackendChoice;
  /** one line per model load, e.g. to stderr */
  readonly log?: (line: string) => void;
}

/**
 * The real Measurer: a config's batch of `maxNumSeqs` concurrent requests, each a distinct prompt
 * of `promptTokens` token ids and `outputTokens` generated tokens at temperature 0, through an
 * engine as `peregrine serve` makes one (createServingEngine's AsyncEngine, max-num-seqs = the
 * batch). TTFT is from a request's submission to its first token (so at batch N it includes
 * waiting behind the other prompts' prefill, as a server's would); TPOT is its decode time ÷ its
 * tokens after the first; tokens/s is all output tokens ÷ the batch's wall time.
 *
 * The model is loaded once per (file, TP, PP, threads, KV type) and kept while consecutive configs
 * share those, with one short unmeasured request after each load (first-touch page faults, kernel
 * thread start-up).
 */
export class ServingMeasurer implements Measurer {
  private loaded: { readonly key: string; readonly model: LoadedModel } | undefined;
  /** the last load that failed: the configs after it with the same key fail the same way without loading again */
  private failedLoad: { readonly key: string; readonly error: unknown } | undefined;

  constructor(private readonly options: ServingMeasurerOptions) {}

  async measure(config: PlanConfig): Promise<Measurement> {
    const model = await this.modelFor(config);
    const engine = new AsyncEngine(model, { maxNumSeqs: config.maxNumSeqs, maxQueueLength: config.maxNumSeqs });
    try {
      const vocabSize = model.config.vocabSize;
      const startMs = performance.now();
      const requests = await Promise.all(
        Array.from({ length: config.maxNumSeqs }, (_, r) => timeRequest(engine, promptTokenIds(this.options.promptTokens, vocabSize, r), this.options.outputTokens)),
      );
      const wallMs = performance.now() - startMs;
      const numTokens = requests.reduce((sum, r) => sum + r.numTokens, 0);
      return {
        ttftMs: percentile(requests.map((r) => r.ttftMs), 50),
        tpotMs: percentile(requests.map((r) => r.tpotMs), 50),
        tokensPerSecond: (numTokens / wallMs) * 1000,
      };
    } finally {
      engine.disposeKvCache(); // every request has ended; the model stays loaded for the next batch size
    }
  }

  async close(): Promise<void> {
    this.loaded?.model.dispose();
    this.loaded = undefined;
  }

  private async modelFor(c: PlanConfig): Promise<LoadedModel> {
    const key = JSON.stringify([c.modelPath, c.tensorParallel, c.pipelineParallel, c.threadsPerWorker, c.kvCacheType]);
    if (this.loaded?.key === key) return this.loaded.model;
    if (this.failedLoad?.key === key) throw this.failedLoad.error;
    await this.close();
    const { promptTokens, outputTokens, parallelTransport, backend, log } = this.options;
    log?.(`loading ${c.modelPath} with TP=${c.tensorParallel} PP=${c.pipelineParallel}, ${c.threadsPerWorker} thread(s) per worker, KV ${c.kvCacheType}`);
    let model: LoadedModel;
    try {
      model = await loadModel(c.modelPath, {
        contextSize: promptTokens + outputTokens + 8,
        threads: c.threadsPerWorker,
        kvCacheType: c.kvCacheType,
        backend,
        tensorParallel: c.tensorParallel,
        pipelineParallel: c.pipelineParallel,
        parallelTransport,
      });
    } catch (e) {
      this.failedLoad = { key, error: e };
      throw e;
    }
    this.loaded = { key, model };
    const warmUp = new AsyncEngine(model, { maxNumSeqs: 1 });
    try {
      await timeRequest(warmUp, promptTokenIds(promptTokens, model.config.vocabSize, 0), Math.min(4, outputTokens));
    } finally {
      warmUp.disposeKvCache();
    }
    return model;
  }
}

interface RequestTiming {
  readonly ttftMs: number;
  readonly tpotMs: number;
  readonly numTokens: number;
}

async function timeRequest(engine: AsyncEngine, prompt: readonly number[], maxTokens: number): Promise<RequestTiming> {
  const startMs = performance.now();
  let firstMs: number | undefined;
  let numTokens = 0;
  for await (const chunk of engine.generate(prompt, { maxTokens, ignoreEos: true, temperature: 0 })) {
    if (chunk.tokenIds.length === 0) continue;
    firstMs ??= performance.now();
    numTokens += chunk.tokenIds.length;
  }
  const endMs = performance.now();
  const ttftMs = (firstMs ?? endMs) - startMs;
  return { ttftMs, tpotMs: numTokens > 1 ? (endMs - (firstMs ?? endMs)) / (numTokens - 1) : 0, numTokens };
}

/**
 * `length` token ids of the vocabulary's middle half (clear of byte tokens and specials at either
 * end), different for each request index so that no two requests share a cached prefix.
 */
function promptTokenIds(length: number, vocabSize: number, requestIndex: number): number[] {
  const base = Math.floor(vocabSize / 4);
  const span = Math.max(1, Math.floor(vocabSize / 2));
  return Array.from({ length }, (_, i) => base + ((i * 7919 + requestIndex * 104_729 + requestIndex) % span));
}
