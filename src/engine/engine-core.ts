import { KvCacheManager } from '../cache/kv-cache-manager.js';
import { RequestFailedError } from '../errors/engine-error.js';
import type { PooledRows, Runner } from '../runner/model-runner.js';
import { computeLogprobs } from '../sampling/compute-logprobs.js';
import type { Sampler } from '../sampling/sampler.js';
import { Request, type FinishReason } from '../scheduler/request.js';
import { Scheduler } from '../scheduler/scheduler.js';
import type { StreamingDetokenizer } from '../tokenizer/streaming-detokenizer.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { GenerationChunk } from './generation-options.js';
import type { Pooler } from './pooler.js';
import type { StopMatcher } from './stop-matcher.js';

/** Everything the engine keeps per request besides what the scheduler keeps. */
export interface RequestState {
  readonly sampler: Sampler;
  readonly detokenizer: StreamingDetokenizer;
  readonly stopMatcher: StopMatcher;
  readonly maxTokens: number;
  readonly ignoreEos: boolean;
  /** top alternatives per token, when logprobs were asked for */
  readonly numLogprobs: number | undefined;
  readonly emit: (chunk: GenerationChunk) => void;
  /** called once after the last chunk */
  readonly end: () => void;
  readonly fail: (error: unknown) => void;
}

/** What the engine keeps per pooling (embedding) request: the vector being pooled, and where it goes. */
export interface PoolingState {
  readonly pooler: Pooler;
  readonly normalize: boolean;
  /** called once, with the vector, when the prompt is computed */
  readonly resolve: (embedding: Float32Array) => void;
  /** called once instead of resolve: aborted, or the engine failed */
  readonly fail: (error: unknown) => void;
}

/** Per-request state of either kind; a pooling request is told apart by `Request.pooling`. */
export type EngineRequestState = RequestState | PoolingState;

export interface EngineCoreConfig {
  readonly maxNumSeqs: number;
  readonly maxNumBatchedTokens: number;
  readonly maxQueueLength: number;
  /** most tokens (prompt plus output) in one request */
  readonly maxModelLen: number;
  /** KV blocks over all requests: the runner's KV storage has this many */
  readonly numKvBlocks: number;
  /** token slots per KV block */
  readonly blockSize: number;
}

/**
 * The step loop: schedule → execute → sample → update. One batched forward pass per step
 * covers every scheduled token of every request (decode tokens and prefill chunks alike).
 */
export class EngineCore {
  readonly scheduler: Scheduler<EngineRequestState>;
  /** requests whose stream is still open (the scheduler forgets requests once finished) */
  private readonly open = new Map<string, Request<EngineRequestState>>();

  /** `tokenizer` says which tokens end a generation; `runner` runs each step's batch */
  constructor(
    private readonly runner: Runner,
    private readonly tokenizer: Tokenizer,
    config: EngineCoreConfig,
  ) {
    this.scheduler = new Scheduler<EngineRequestState>(
      {
        maxNumSeqs: config.maxNumSeqs,
        maxNumBatchedTokens: config.maxNumBatchedTokens,
        maxModelLen: config.maxModelLen,
        maxQueueLength: config.maxQueueLength,
      },
      new KvCacheManager({ numBlocks: config.numKvBlocks, blockSize: config.blockSize }),
    );
  }

  get hasWork(): boolean {
    return this.open.size > 0;
  }

  /** Queues a request; throws InvalidRequestError or CapacityError (nothing is queued then). */
  addRequest(request: Request<RequestState> | Request<PoolingState>): void {
    this.scheduler.addRequest(request);
    this.open.set(request.requestId, request);
  }

  /** Finishes a request with 'abort' now, freeing its KV blocks. */
  abort(requestId: string): void {
    if (this.scheduler.abort(requestId)) this.close(requestId, 'abort');
  }

  step(): void {
    const output = this.scheduler.schedule();
    for (const f of output.finished) this.close(f.requestId, f.reason);
    if (output.scheduled.length === 0) return;

    const { requestIds, logits, vocabSize, pooled } = this.runner.execute(output);
    this.pool(output.preempted, pooled ?? []);
    // greedy requests take their token from the kernels' argmax (vectorized, all rows at once)
    const isGreedy = (requestId: string): boolean => this.generation(requestId).params.sampler.isGreedy;
    const argmax = requestIds.some(isGreedy) ? this.runner.argmaxRows(logits, requestIds.length) : undefined;

    const sampled = new Map<string, number>();
    const finishReasons = new Map<string, FinishReason>();
    requestIds.forEach((requestId, row) => {
      const request = this.generation(requestId);
      const state = request.params;
      const rowLogits = logits.subarray(row * vocabSize, (row + 1) * vocabSize);
      const tokenId = this.sampleRow(state, rowLogits, argmax?.[row], request.allTokenIds);
      if (tokenId === undefined) {
        // NaN or infinite logits (a model whose arithmetic overflows): this request ends with an
        // error and frees its KV blocks; the others in the batch go on
        this.scheduler.abort(requestId);
        this.open.delete(requestId);
        state.fail(new RequestFailedError('NON_FINITE_LOGITS', 'the model produced non-finite logits for this request'));
        return;
      }
      sampled.set(requestId, tokenId);
      const logprobs = state.numLogprobs !== undefined ? [computeLogprobs(rowLogits, tokenId, state.numLogprobs)] : undefined;
      if (!state.ignoreEos && this.tokenizer.isEndOfGeneration(tokenId)) {
        finishReasons.set(requestId, 'stop');
        state.emit({ text: '', tokenIds: [tokenId], logprobs });
        return;
      }
      const { text, isStopped } = state.stopMatcher.push(state.detokenizer.push(tokenId));
      state.emit({ text, tokenIds: [tokenId], logprobs });
      if (isStopped) finishReasons.set(requestId, 'stop');
      else if (request.numOutputTokens + 1 >= state.maxTokens) finishReasons.set(requestId, 'length');
    });

    for (const f of this.scheduler.updateFromOutput(output, sampled, finishReasons)) this.close(f.requestId, f.reason);
  }

  /** A request the runner returned logits for: a generation, never a pooling request. */
  private generation(requestId: string): Request<RequestState> {
    const request = this.scheduler.getRequest(requestId);
    if (request === undefined || request.pooling !== undefined) throw new Error(`${requestId}: logits for no generation request`);
    return request as Request<RequestState>;
  }

  /** Adds this step's hidden rows to their requests' poolers; a preempted request starts over. */
  private pool(preempted: readonly string[], pooled: readonly PooledRows[]): void {
    for (const requestId of preempted) {
      const request = this.scheduler.getRequest(requestId);
      if (request?.pooling !== undefined) (request.params as PoolingState).pooler.reset();
    }
    for (const p of pooled) (this.scheduler.getRequest(p.requestId)!.params as PoolingState).pooler.add(p.rows, p.numRows);
  }

  /** The next token from one row of logits, or undefined when the chosen token's logit is not finite. */
  private sampleRow(state: RequestState, rowLogits: Float32Array, argmax: number | undefined, allTokenIds: readonly number[]): number | undefined {
    let tokenId: number;
    try {
      tokenId = argmax !== undefined && state.sampler.isGreedy ? argmax : state.sampler.sample(rowLogits, allTokenIds);
    } catch (err) {
      if (!rowLogits.some(Number.isFinite)) return undefined; // the sampler found no finite logit
      throw err;
    }
    // NaN propagates through a forward pass, so a row with any NaN is NaN nearly everywhere
    return Number.isFinite(rowLogits[tokenId]) ? tokenId : undefined;
  }

  /** Ends every open request's stream with `error` (the engine cannot go on). */
  failAll(error: unknown): void {
    for (const [requestId, request] of this.open) {
      this.scheduler.abort(requestId);
      request.params.fail(error);
    }
    this.open.clear();
  }

  /** Emits the request's last chunk: text still held back (unless it stopped), finish reason, usage. */
  private close(requestId: string, reason: FinishReason): void {
    const request = this.open.get(requestId);
    if (!request) return;
    this.open.delete(requestId);
    if (request.pooling !== undefined) {
      const pooling = request.params as PoolingState;
      if (reason === 'stop') pooling.resolve(pooling.pooler.finish(pooling.normalize));
      else pooling.fail(request.signal?.reason ?? new DOMException(`the embedding request ended (${reason})`, 'AbortError'));
      return;
    }
    const state = request.params as RequestState;
    let text = '';
    let finishReason = reason;
    if (reason !== 'stop') {
      const last = state.stopMatcher.push(state.detokenizer.flush());
      text = last.isStopped ? last.text : last.text + state.stopMatcher.flush();
      if (last.isStopped) finishReason = 'stop';
    }
    state.emit({
      text,
      tokenIds: [],
      finishReason,
      usage: { promptTokens: request.numPromptTokens, completionTokens: request.numOutputTokens },
    });
    state.end();
  }
}
