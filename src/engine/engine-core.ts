import { KvCacheManager } from '../cache/kv-cache-manager.js';
import { InvalidRequestError, RequestFailedError, invariant } from '../errors/engine-error.js';
import type { PooledRows, Runner, RunnerOutput } from '../runner/model-runner.js';
import { computeLogprobs } from '../sampling/compute-logprobs.js';
import type { Sampler } from '../sampling/sampler.js';
import { applyLogitBias, applyTokenMask, type LogitBias } from '../sampling/logits-processors.js';
import type { TokenConstraint } from '../grammar/token-constraint.js';
import { Request, type FinishReason } from '../scheduler/request.js';
import { Scheduler } from '../scheduler/scheduler.js';
import type { SchedulerOutput } from '../scheduler/scheduler-output.js';
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
  /**
   * Constrained decoding (JSON schema, grammar, a forced tool call): the tokens it disallows are
   * masked to -Infinity before sampling, it accepts each sampled token, and the request finishes
   * with 'stop' once it must end. Its state follows the output tokens, which survive preemption
   * (a preempted request recomputes prompt + outputs and samples on from there), so it is never
   * rewound. End-of-generation tokens always end a constrained request (ignoreEos does not apply).
   * Disposed when the request closes (finish, abort, failure).
   */
  readonly constraint?: TokenConstraint;
  /** OpenAI logit_bias, added to the logits before the mask and the sampler */
  readonly logitBias?: LogitBias;
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
  /** [ceil(vocabSize / 32)] allowed-token bits, refilled for each constrained row */
  private mask = new Uint32Array(0);
  /** [vocabSize] a constrained or biased row before its edits, kept only when logprobs are asked for */
  private rawRow = new Float32Array(0);
  /** whether an async step's forward pass is in flight */
  private isStepping = false;

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

  /**
   * One step. With a runner whose execute returns a promise (its forward pass runs on workers) the
   * step is a promise too, settled once the step's tokens are sampled and its requests updated; the
   * caller awaits it before the next step. Requests may be added and aborted meanwhile: an abort
   * frees the request's blocks at once (the scheduler hands them out again only at the next
   * schedule, after the forward pass that writes them has finished) and its row is skipped.
   */
  step(): void | Promise<void> {
    invariant(!this.isStepping, 'step while the last step is in flight');
    const output = this.scheduler.schedule();
    for (const f of output.finished) this.close(f.requestId, f.reason);
    if (output.scheduled.length === 0) return;

    const result = this.runner.execute(output);
    if (!(result instanceof Promise)) return this.update(output, result);
    this.isStepping = true;
    return result.then(
      (r) => {
        this.isStepping = false;
        this.update(output, r);
      },
      (err: unknown) => {
        this.isStepping = false;
        throw err;
      },
    );
  }

  /** sample → update: the step's tokens from the runner's output, then the scheduler's bookkeeping */
  private update(output: SchedulerOutput, { requestIds, logits, vocabSize, pooled }: RunnerOutput): void {
    this.pool(output.preempted, pooled ?? []);
    // greedy requests take their token from the kernels' argmax (on the backend, all rows at once,
    // before the host logits are edited), except rows whose logits are edited first (mask, bias):
    // they take the argmax of the edited row
    const isKernelGreedy = (requestId: string): boolean => {
      const state = this.generation(requestId)?.params;
      return state !== undefined && state.sampler.isGreedy && !isEdited(state);
    };
    const argmax = requestIds.some(isKernelGreedy) ? this.runner.argmaxRows(requestIds.length) : undefined;

    const sampled = new Map<string, number>();
    const finishReasons = new Map<string, FinishReason>();
    requestIds.forEach((requestId, row) => {
      const request = this.generation(requestId);
      if (request === undefined) return; // aborted while the step was in flight
      const state = request.params;
      const rowLogits = logits.subarray(row * vocabSize, (row + 1) * vocabSize);
      // logprobs are of the model's raw distribution, before bias and mask (vLLM's default, "raw_logprobs")
      const logprobsRow = state.numLogprobs !== undefined && isEdited(state) ? this.copyRaw(rowLogits) : rowLogits;
      if (state.logitBias) applyLogitBias(rowLogits, state.logitBias);
      // a constraint may refuse a grammar too ambiguous for its bounds only once it meets it (InvalidRequestError):
      // that request fails, the others go on
      if (state.constraint && !this.tryConstraint(requestId, state, (c) => applyTokenMask(rowLogits, this.fillMask(c, vocabSize)))) return;
      const tokenId = this.sampleRow(state, rowLogits, isEdited(state) ? undefined : argmax?.[row], request.allTokenIds);
      if (tokenId === undefined) {
        // NaN or infinite logits (a model whose arithmetic overflows): this request ends with an
        // error and frees its KV blocks; the others in the batch go on
        this.failRequest(requestId, state, new RequestFailedError('NON_FINITE_LOGITS', 'the model produced non-finite logits for this request'));
        return;
      }
      const isEnd = (!state.ignoreEos || state.constraint !== undefined) && this.tokenizer.isEndOfGeneration(tokenId);
      if (state.constraint && !isEnd && !this.tryConstraint(requestId, state, (c) => c.acceptToken(tokenId))) return;
      sampled.set(requestId, tokenId);
      const logprobs = state.numLogprobs !== undefined ? [computeLogprobs(logprobsRow, tokenId, state.numLogprobs)] : undefined;
      if (isEnd) {
        finishReasons.set(requestId, 'stop');
        // a constrained output is complete here: what the detokenizer or stop matcher holds back is part of it
        state.emit({ text: state.constraint ? flushText(state) : '', tokenIds: [tokenId], logprobs });
        return;
      }
      let { text, isStopped } = state.stopMatcher.push(state.detokenizer.push(tokenId));
      if (!isStopped && state.constraint?.mustEnd) {
        text += flushText(state);
        isStopped = true;
      }
      state.emit({ text, tokenIds: [tokenId], logprobs });
      if (isStopped) finishReasons.set(requestId, 'stop');
      else if (request.numOutputTokens + 1 >= state.maxTokens) finishReasons.set(requestId, 'length');
    });

    for (const f of this.scheduler.updateFromOutput(output, sampled, finishReasons)) this.close(f.requestId, f.reason);
  }

  /**
   * A request the runner returned logits for: a generation, never a pooling request; undefined when
   * it was aborted while an async step was in flight.
   */
  private generation(requestId: string): Request<RequestState> | undefined {
    const request = this.scheduler.getRequest(requestId);
    invariant(request?.pooling === undefined, `${requestId}: logits for a pooling request`);
    return request as Request<RequestState> | undefined;
  }

  /** Adds this step's hidden rows to their requests' poolers; a preempted request starts over. */
  private pool(preempted: readonly string[], pooled: readonly PooledRows[]): void {
    for (const requestId of preempted) {
      const request = this.scheduler.getRequest(requestId);
      if (request?.pooling !== undefined) (request.params as PoolingState).pooler.reset();
    }
    for (const p of pooled) {
      const request = this.scheduler.getRequest(p.requestId); // undefined: aborted while an async step was in flight
      if (request !== undefined) (request.params as PoolingState).pooler.add(p.rows, p.numRows);
    }
  }

  /** Runs `use` on the request's constraint; when it throws an InvalidRequestError the request fails with it (false). */
  private tryConstraint(requestId: string, state: RequestState, use: (constraint: TokenConstraint) => void): boolean {
    try {
      use(state.constraint!);
      return true;
    } catch (err) {
      if (!(err instanceof InvalidRequestError)) throw err; // an invariant failure: the engine's bug
      this.failRequest(requestId, state, err);
      return false;
    }
  }

  /** Ends one request with `error`, freeing its KV blocks and constraint; the others go on. */
  private failRequest(requestId: string, state: RequestState, error: Error): void {
    this.scheduler.abort(requestId);
    this.open.delete(requestId);
    state.constraint?.dispose();
    state.fail(error);
  }

  /** the constraint's allowed-token bits, in the reusable mask buffer */
  private fillMask(constraint: TokenConstraint, vocabSize: number): Uint32Array {
    const numWords = Math.ceil(vocabSize / 32);
    if (this.mask.length !== numWords) this.mask = new Uint32Array(numWords);
    constraint.fillAllowedMask(this.mask);
    return this.mask;
  }

  /** a copy of `row` in the reusable raw-row buffer */
  private copyRaw(row: Float32Array): Float32Array {
    if (this.rawRow.length !== row.length) this.rawRow = new Float32Array(row.length);
    this.rawRow.set(row);
    return this.rawRow;
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
      if (request.pooling === undefined) (request.params as RequestState).constraint?.dispose();
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
    state.constraint?.dispose();
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

/** whether a row's logits are edited before sampling (so the kernels' argmax of the raw row is not its greedy token) */
function isEdited(state: RequestState): boolean {
  return state.constraint !== undefined || state.logitBias !== undefined;
}

/** the text the detokenizer and stop matcher still hold back, up to a stop string if one completes */
function flushText(state: RequestState): string {
  const last = state.stopMatcher.push(state.detokenizer.flush());
  return last.isStopped ? last.text : last.text + state.stopMatcher.flush();
}
