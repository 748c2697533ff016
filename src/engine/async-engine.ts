import { randomUUID } from 'node:crypto';
import { CapacityError, EngineDeadError, InvalidRequestError } from '../errors/engine-error.js';
import { resolveSamplingParams } from '../sampling/sampling-params.js';
import { Sampler } from '../sampling/sampler.js';
import { epochNowMs, Request } from '../scheduler/request.js';
import { StreamingDetokenizer } from '../tokenizer/streaming-detokenizer.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { ChunkQueue } from './chunk-queue.js';
import { EngineCore, type PoolingState, type RequestState } from './engine-core.js';
import { defaultPooling, validateEmbeddingOptions, type EmbeddingOptions, type EmbeddingResult } from './embedding-options.js';
import { Pooler } from './pooler.js';
import type { PoolingType } from '../scheduler/request.js';
import { validateGenerationOptions, type GenerationChunk, type GenerationOptions, type GenerationTimings } from './generation-options.js';
import { KV_BLOCK_SIZE } from '../kernels/host-kv-cache.js';
import type { Model } from './model.js';
import type { RunnerHandle } from './model-weights.js';
import type { ServingEngine, ServingStats } from './serving-engine.js';
import { StopMatcher } from './stop-matcher.js';
import { kvBytesPerToken } from './context-size.js';
import { checkPromptBytes } from './prompt-length.js';
import { resolveConstraintSpec, resolveLogitBias } from './constraint-options.js';
import type { ConstraintCompiler, TokenConstraint } from '../grammar/token-constraint.js';

export interface ServingEngineOptions {
  /** most requests running at once (default 16) */
  readonly maxNumSeqs?: number;
  /** most requests waiting before new ones get QUEUE_FULL (default 256) */
  readonly maxQueueLength?: number;
  /** token budget of one step (default 512) */
  readonly maxNumBatchedTokens?: number;
  /** KV cache capacity in tokens over all requests (default: every running request at full context, capped at 1 GiB of KV) */
  readonly numKvTokens?: number;
  /** compiles constrained-decoding specs against the model's vocabulary (default: the model's own, cached per spec) */
  readonly constraintCompiler?: ConstraintCompiler;
}

const DEFAULT_MAX_TOKENS = 256;

const KV_BYTES_CAP = 2 ** 30;

/**
 * Many concurrent generations over one model: requests join and leave the running batch between
 * steps (in-flight batching). The step loop runs while any request is open, yielding to the event
 * loop between steps so that HTTP I/O and aborts get their turn.
 */
export class AsyncEngine implements ServingEngine {
  readonly tokenizer: Tokenizer;
  readonly contextSize: number;
  readonly constraints: ConstraintCompiler;
  private readonly core: EngineCore;
  /** the model's runner for this engine, and the KV cache it runs on */
  private readonly runner: RunnerHandle;
  private readonly maxNumSeqs: number;
  private isLoopRunning = false;
  private isShuttingDown = false;
  private deadError: EngineDeadError | undefined;
  private drained: (() => void) | undefined;

  constructor(
    readonly model: Model,
    options: ServingEngineOptions = {},
  ) {
    this.tokenizer = model.tokenizer;
    this.contextSize = model.contextSize;
    this.constraints = options.constraintCompiler ?? model.constraintCompiler;
    const c = model.config;
    const maxNumSeqs = options.maxNumSeqs ?? 16;
    this.maxNumSeqs = maxNumSeqs;
    const bytesPerToken = kvBytesPerToken(c, model.kvCacheType);
    const numKvTokens =
      options.numKvTokens ?? Math.max(model.contextSize, Math.min(maxNumSeqs * model.contextSize, Math.floor(KV_BYTES_CAP / bytesPerToken)));
    const numKvBlocks = Math.ceil(numKvTokens / KV_BLOCK_SIZE);
    // on the model's backend (or its workers); disposed at shutdown, before the model
    this.runner = model.createRunner({ numKvBlocks, blockSize: KV_BLOCK_SIZE });
    this.core = new EngineCore(this.runner.runner, model.tokenizer, {
      maxNumSeqs,
      maxNumBatchedTokens: Math.max(options.maxNumBatchedTokens ?? 512, maxNumSeqs),
      maxQueueLength: options.maxQueueLength ?? 256,
      maxModelLen: model.contextSize,
      numKvBlocks,
      blockSize: KV_BLOCK_SIZE,
    });
  }

  isQueueFull(): boolean {
    return this.core.scheduler.isQueueFull();
  }

  get deadReason(): string | undefined {
    return this.deadError?.message;
  }

  stats(): ServingStats {
    return this.core.scheduler.stats;
  }

  generate(prompt: string | readonly number[], options: GenerationOptions = {}): AsyncGenerator<GenerationChunk> {
    if (this.deadError) throw this.deadError;
    if (this.isShuttingDown) throw new CapacityError('QUEUE_FULL', 'the server is shutting down');
    validateGenerationOptions(options);
    if (typeof prompt === 'string') checkPromptBytes(prompt, this.tokenizer, this.contextSize);
    const promptIds =
      typeof prompt === 'string'
        ? this.tokenizer.encode(prompt, { addSpecial: options.addSpecial ?? true, parseSpecial: options.parseSpecial ?? false })
        : [...prompt];
    if (promptIds.length === 0) throw new InvalidRequestError('INVALID_ARGUMENT', 'prompt is empty');
    this.model.checkTokens(promptIds);
    const logitBias = resolveLogitBias(options.logitBias, this.model.config.vocabSize);
    const spec = resolveConstraintSpec(options);
    // compiled (or found in the compiler's cache) before anything is queued: a bad spec is the caller's error
    const compiled = spec === undefined ? undefined : this.constraints.compile(spec);

    const queue = new ChunkQueue<GenerationChunk>();
    let firstTokenAtMs: number | undefined;
    const state: RequestState = {
      sampler: new Sampler(resolveSamplingParams(options)),
      detokenizer: new StreamingDetokenizer(this.tokenizer, {
        stripLeadingSpace: promptIds.every((id) => this.tokenizer.isControl(id)),
      }),
      stopMatcher: new StopMatcher(options.stop ?? []),
      maxTokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
      ignoreEos: options.ignoreEos ?? false,
      numLogprobs: options.logprobs,
      logitBias,
      emit: (chunk) => {
        if (firstTokenAtMs === undefined && chunk.tokenIds.length > 0) firstTokenAtMs = epochNowMs();
        queue.push(chunk.usage ? { ...chunk, timings: timingsOf(request, firstTokenAtMs) } : chunk);
      },
      end: () => queue.close(),
      fail: (error) => queue.fail(error),
    };
    const requestId = randomUUID();

    if (state.maxTokens === 0) {
      queue.push({
        text: '',
        tokenIds: [],
        finishReason: 'length',
        usage: { promptTokens: promptIds.length, completionTokens: 0 },
        timings: { queueMs: 0, prefillMs: 0, decodeMs: 0 },
      });
      queue.close();
      return queue.drain();
    }
    const constraint: TokenConstraint | undefined = compiled?.create();
    const request = new Request<RequestState>({ requestId, promptTokenIds: promptIds, params: { ...state, constraint }, signal: options.signal });
    try {
      this.core.addRequest(request); // throws PROMPT_TOO_LONG / QUEUE_FULL before anything is queued
    } catch (err) {
      constraint?.dispose();
      throw err;
    }
    const onAbort = (): void => {
      this.core.abort(requestId);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.runLoop();
    const core = this.core;
    return (async function* stream() {
      try {
        yield* queue.drain();
      } finally {
        options.signal?.removeEventListener('abort', onAbort);
        core.abort(requestId); // no-op when finished; frees the blocks of a consumer that stopped early
      }
    })();
  }

  /**
   * One vector per input (text, or token ids used as they are): the pooled final hidden states of
   * the model. Each input is a pooling request through the same scheduler and steps as
   * generations (batched with them, prefilled in chunks, in KV blocks freed when it is done); at
   * most maxNumSeqs of one call's inputs are in the engine at a time. Every input is checked before
   * any runs: InvalidRequestError PROMPT_TOO_LONG / INVALID_TOKEN / INVALID_ARGUMENT.
   */
  async embed(inputs: readonly (string | readonly number[])[], options: EmbeddingOptions = {}): Promise<EmbeddingResult[]> {
    if (this.deadError) throw this.deadError;
    if (this.isShuttingDown) throw new CapacityError('QUEUE_FULL', 'the server is shutting down');
    validateEmbeddingOptions(options);
    const inputIds = inputs.map((input) => {
      if (typeof input === 'string') checkPromptBytes(input, this.tokenizer, this.contextSize);
      const ids = typeof input === 'string' ? this.tokenizer.encode(input, { addSpecial: options.addSpecial ?? true, parseSpecial: false }) : [...input];
      if (ids.length === 0) throw new InvalidRequestError('INVALID_ARGUMENT', 'an input is empty');
      this.model.checkTokens(ids); // PROMPT_TOO_LONG beyond the context, INVALID_TOKEN
      return ids;
    });
    const pooling = options.pooling ?? defaultPooling(this.model.info);
    const results: EmbeddingResult[] = new Array<EmbeddingResult>(inputIds.length);
    let next = 0;
    const feed = async (): Promise<void> => {
      while (next < inputIds.length) {
        const i = next++;
        results[i] = { embedding: await this.embedOne(inputIds[i]!, { ...options, pooling }), numTokens: inputIds[i]!.length };
      }
    };
    await Promise.all(Array.from({ length: Math.min(inputIds.length, this.maxNumSeqs) }, feed));
    return results;
  }

  private embedOne(promptIds: readonly number[], options: EmbeddingOptions & { readonly pooling: PoolingType }): Promise<Float32Array> {
    if (this.deadError) return Promise.reject(this.deadError);
    options.signal?.throwIfAborted();
    return new Promise<Float32Array>((resolve, reject) => {
      const requestId = randomUUID();
      const onAbort = (): void => this.core.abort(requestId);
      const settle = (): void => options.signal?.removeEventListener('abort', onAbort);
      const state: PoolingState = {
        pooler: new Pooler(options.pooling, this.model.config.hiddenSize),
        normalize: options.normalize ?? true,
        resolve: (embedding) => {
          settle();
          resolve(embedding);
        },
        fail: (error) => {
          settle();
          reject(error);
        },
      };
      const pooling = state.pooler.pooling;
      this.core.addRequest(new Request<PoolingState>({ requestId, promptTokenIds: promptIds, params: state, signal: options.signal, pooling }));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.runLoop();
    });
  }

  /** Stops taking requests and resolves when the open ones have finished and the model is closed (a parallel model's workers stopped). */
  async shutdown(): Promise<void> {
    this.isShuttingDown = true;
    if (this.core.hasWork || this.isLoopRunning) await new Promise<void>((resolve) => (this.drained = resolve));
    this.disposeKvCache();
    await this.model.close();
  }

  /**
   * Frees the KV cache now, without waiting (a request still open fails at its next step with a
   * DisposedError); leaves the model alone. Twice is harmless.
   */
  disposeKvCache(): void {
    this.runner.dispose();
  }

  /**
   * Steps while any request is open, one at a time. A step of a runner whose forward pass runs on
   * workers is a promise, awaited before the next; requests join and abort meanwhile. A step that
   * throws or rejects kills the engine: every open request fails with EngineDeadError.
   */
  private runLoop(): void {
    if (this.isLoopRunning) return;
    this.isLoopRunning = true;
    const fail = (err: unknown): void => {
      this.deadError = new EngineDeadError('ENGINE_DEAD', `engine step failed: ${(err as Error).message}`, { cause: err });
      this.core.failAll(this.deadError);
    };
    const next = (): void => {
      if (this.core.hasWork && !this.deadError) {
        setImmediate(tick);
      } else {
        this.isLoopRunning = false;
        this.drained?.();
      }
    };
    const tick = (): void => {
      let step: void | Promise<void> = undefined;
      try {
        step = this.core.step();
      } catch (err) {
        fail(err);
      }
      if (step === undefined) return next();
      step.then(next, (err: unknown) => {
        fail(err);
        next();
      });
    };
    setImmediate(tick);
  }
}

/** A finishing request's queue, prefill and decode times (the phases it never reached are 0). */
function timingsOf(request: Request<RequestState>, firstTokenAtMs: number | undefined): GenerationTimings {
  const nowMs = epochNowMs();
  const scheduledAtMs = request.firstScheduledAtMs ?? nowMs;
  const tokenAtMs = firstTokenAtMs ?? nowMs;
  return {
    queueMs: scheduledAtMs - request.arrivalTimeMs,
    prefillMs: Math.max(0, tokenAtMs - scheduledAtMs),
    decodeMs: Math.max(0, nowMs - tokenAtMs),
  };
}

export function createServingEngine(model: Model, options?: ServingEngineOptions): ServingEngine {
  return new AsyncEngine(model, options);
}
