import { CapacityError, invariant, InvalidRequestError } from '../errors/engine-error.js';
import { NO_CACHED_PREFIX, type KvCacheManager } from '../cache/kv-cache-manager.js';
import { epochNowMs, type FinishReason, type Request } from './request.js';
import type { FinishedRequest, ScheduledRequest, SchedulerOutput, SchedulerStats } from './scheduler-output.js';

export interface SchedulerConfig {
  /** most requests running at once */
  readonly maxNumSeqs: number;
  /** token budget of one step: the most tokens a forward pass computes (at least maxNumSeqs) */
  readonly maxNumBatchedTokens: number;
  /** most tokens one request computes in a step, so a long prompt cannot hog it (default: the budget) */
  readonly chunkedPrefillTokens?: number;
  /** most tokens (prompt plus output) in one request */
  readonly maxModelLen: number;
  /** most requests waiting before `addRequest` refuses (default: no limit) */
  readonly maxQueueLength?: number;
}

/**
 * Decides, each step, which tokens of which requests the forward pass computes (vLLM v1 shape):
 * running requests first (decode tokens, then the next chunks of prefills in progress), then
 * waiting requests admitted first come first served while the token budget, `maxNumSeqs` and KV
 * blocks allow; a prompt longer than the budget is prefilled in chunks over several steps.
 * When a running request needs a block and none is free, the most recently admitted running
 * request is preempted: its blocks are freed and it goes back to the front of the queue, to be
 * recomputed later. Never throws for lack of memory.
 *
 * A step: `schedule()` → run the batch → `updateFromOutput(output, sampled, finishReasons)`.
 */
export class Scheduler<P = unknown> {
  readonly config: Required<SchedulerConfig>;
  /** FIFO; preempted requests re-enter at the front */
  private readonly waiting: Request<P>[] = [];
  /** in admission order; preemption takes from the end */
  private readonly running: Request<P>[] = [];
  private readonly requests = new Map<string, Request<P>>();
  private finishedSinceSchedule: FinishedRequest[] = [];
  /** requestId → tokens scheduled by the last `schedule()`, until `updateFromOutput` */
  private numScheduledTokens = new Map<string, number>();
  private numPreemptions = 0;

  constructor(
    config: SchedulerConfig,
    readonly kvCacheManager: KvCacheManager,
  ) {
    this.config = Object.freeze({
      maxNumSeqs: config.maxNumSeqs,
      maxNumBatchedTokens: config.maxNumBatchedTokens,
      chunkedPrefillTokens: config.chunkedPrefillTokens ?? config.maxNumBatchedTokens,
      maxModelLen: config.maxModelLen,
      maxQueueLength: config.maxQueueLength ?? Infinity,
    });
    for (const [name, value] of Object.entries(this.config)) {
      const isValid = (Number.isInteger(value) && value >= 1) || (name === 'maxQueueLength' && value === Infinity);
      if (!isValid) throw new InvalidRequestError('INVALID_ARGUMENT', `${name} must be a positive integer (got ${value})`);
    }
    // every running request must be able to decode in one step
    if (this.config.maxNumBatchedTokens < this.config.maxNumSeqs) {
      throw new InvalidRequestError(
        'INVALID_ARGUMENT',
        `maxNumBatchedTokens ${this.config.maxNumBatchedTokens} is below maxNumSeqs ${this.config.maxNumSeqs}`,
      );
    }
    // a lone request must always fit, or preemption could not guarantee progress
    const numBlocksNeeded = kvCacheManager.numBlocksFor(this.config.maxModelLen);
    if (numBlocksNeeded > kvCacheManager.pool.numBlocks) {
      throw new InvalidRequestError(
        'INVALID_ARGUMENT',
        `maxModelLen ${this.config.maxModelLen} needs ${numBlocksNeeded} KV blocks; the cache has ${kvCacheManager.pool.numBlocks}`,
      );
    }
  }

  get numWaiting(): number {
    return this.waiting.length;
  }

  get numRunning(): number {
    return this.running.length;
  }

  /** requests waiting or running */
  get numUnfinished(): number {
    return this.requests.size;
  }

  get stats(): SchedulerStats {
    const kv = this.kvCacheManager.stats;
    return {
      numWaiting: this.waiting.length,
      numRunning: this.running.length,
      kvCacheUsage: kv.usage,
      numPrefixCacheQueryTokens: kv.numPrefixQueryTokens,
      numPrefixCacheHitTokens: kv.numPrefixHitTokens,
      numPreemptions: this.numPreemptions,
    };
  }

  /** true when `addRequest` would refuse for a full queue: answer 429 */
  isQueueFull(): boolean {
    return this.waiting.length >= this.config.maxQueueLength;
  }

  getRequest(requestId: string): Request<P> | undefined {
    return this.requests.get(requestId);
  }

  /**
   * Queues a request. Throws InvalidRequestError (empty prompt, PROMPT_TOO_LONG: no room left to
   * generate in maxModelLen, duplicate id) or CapacityError QUEUE_FULL.
   */
  addRequest(request: Request<P>): void {
    const { requestId } = request;
    if (request.status !== 'waiting' || request.numComputedTokens !== 0 || request.numOutputTokens !== 0) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `request ${requestId} is not new`);
    }
    if (this.requests.has(requestId)) throw new InvalidRequestError('INVALID_ARGUMENT', `request id ${requestId} is in use`);
    if (request.numPromptTokens === 0) throw new InvalidRequestError('INVALID_ARGUMENT', `request ${requestId}: prompt is empty`);
    if (request.pooling !== undefined && request.numPromptTokens > this.config.maxModelLen) {
      throw new InvalidRequestError('PROMPT_TOO_LONG', `input is ${request.numPromptTokens} tokens, the context holds ${this.config.maxModelLen}`);
    }
    if (request.pooling === undefined && request.numPromptTokens >= this.config.maxModelLen) {
      throw new InvalidRequestError(
        'PROMPT_TOO_LONG',
        `prompt is ${request.numPromptTokens} tokens, which leaves no room to generate in a context of ${this.config.maxModelLen}`,
      );
    }
    if (this.isQueueFull()) {
      throw new CapacityError('QUEUE_FULL', `${this.waiting.length} requests are waiting (maxQueueLength ${this.config.maxQueueLength})`);
    }
    this.requests.set(requestId, request);
    this.waiting.push(request);
  }

  /** Finishes a waiting or running request with 'abort', freeing its blocks now. False if unknown. */
  abort(requestId: string): boolean {
    const request = this.requests.get(requestId);
    if (request === undefined) return false;
    this.finish(request, 'abort');
    return true;
  }

  /** The tokens to compute this step, per request, within the token budget and the KV blocks. */
  schedule(): SchedulerOutput {
    for (const request of [...this.running, ...this.waiting]) {
      if (request.isAborted) this.finish(request, 'abort');
    }
    const kv = this.kvCacheManager;
    const scheduled: ScheduledRequest[] = [];
    const preempted: string[] = [];
    let budget = this.config.maxNumBatchedTokens;

    // running requests: decode tokens first, so a long prefill never stalls them; then the next
    // chunks of prefills in progress
    const isDecode = (request: Request<P>): boolean => request.numTokens - request.numComputedTokens === 1;
    const runningInOrder = [...this.running.filter(isDecode), ...this.running.filter((r) => !isDecode(r))];
    for (const request of runningInOrder) {
      if (budget === 0) break;
      if (request.status !== 'running') continue; // preempted for an earlier request this step
      const numNewTokens = this.numTokensToSchedule(request, request.numComputedTokens, budget);
      let isAllocated = kv.allocateSlots(request.requestId, request.allTokenIds, numNewTokens) !== null;
      while (!isAllocated) {
        // the most recently admitted request gives up its blocks, possibly `request` itself
        const victim = this.running.pop()!;
        const victimIndex = scheduled.findIndex((item) => item.requestId === victim.requestId);
        if (victimIndex >= 0) budget += scheduled.splice(victimIndex, 1)[0]!.numTokens;
        this.preempt(victim);
        preempted.push(victim.requestId);
        if (victim === request) break;
        isAllocated = kv.allocateSlots(request.requestId, request.allTokenIds, numNewTokens) !== null;
      }
      if (!isAllocated) continue;
      scheduled.push(this.describe(request, numNewTokens));
      budget -= numNewTokens;
    }

    // waiting requests, first come first served; none in a step that had to preempt
    while (preempted.length === 0 && budget > 0 && this.waiting.length > 0 && this.running.length < this.config.maxNumSeqs) {
      const request = this.waiting[0]!;
      // mean and cls pooling need the hidden states of rows a cached prefix would skip, so they
      // take none (the blocks they compute are cached for later requests all the same); last
      // pooling, like a generation, needs only the last row, which is always computed
      const isPrefixUsable = request.pooling === undefined || request.pooling === 'last';
      const prefix = isPrefixUsable ? kv.findCachedPrefix(request.allTokenIds) : NO_CACHED_PREFIX;
      const numNewTokens = this.numTokensToSchedule(request, prefix.numCachedTokens, budget);
      if (kv.allocateSlots(request.requestId, request.allTokenIds, numNewTokens, prefix) === null) break;
      this.waiting.shift();
      request.status = 'running';
      request.firstScheduledAtMs ??= epochNowMs();
      request.numComputedTokens = prefix.numCachedTokens;
      request.numCachedTokens = prefix.numCachedTokens;
      this.running.push(request);
      scheduled.push(this.describe(request, numNewTokens));
      budget -= numNewTokens;
    }

    const finished = this.finishedSinceSchedule;
    this.finishedSinceSchedule = [];
    this.numScheduledTokens = new Map(scheduled.map((item) => [item.requestId, item.numTokens]));
    return { scheduled, numBatchedTokens: this.config.maxNumBatchedTokens - budget, preempted, finished };
  }

  /**
   * Applies a step's results: advances each scheduled request's computed tokens, appends the
   * token sampled for each request whose prefill completed, and finishes requests per
   * `finishReasons` (the caller's EOS/stop/length decisions, after seeing the new token) or when
   * they reach maxModelLen ('length'). Requests aborted since `schedule()` are skipped. Returns
   * the requests finished here.
   */
  updateFromOutput(
    output: SchedulerOutput,
    sampledTokenIds: ReadonlyMap<string, number>,
    finishReasons: ReadonlyMap<string, FinishReason> = new Map(),
  ): FinishedRequest[] {
    const finished: FinishedRequest[] = [];
    this.numScheduledTokens.clear();
    for (const item of output.scheduled) {
      const request = this.requests.get(item.requestId);
      if (request === undefined || request.status !== 'running') continue;
      invariant(request.numComputedTokens === item.startPosition, `${item.requestId}: output of another step`);
      request.numComputedTokens += item.numTokens;
      this.kvCacheManager.cacheComputedBlocks(request.requestId, request.allTokenIds, request.numComputedTokens);
      if (!item.isPrefillComplete) continue;
      if (request.pooling !== undefined) {
        finished.push(this.finish(request, 'stop')); // pooled: nothing to sample
        continue;
      }
      const tokenId = sampledTokenIds.get(item.requestId);
      invariant(tokenId !== undefined, `${item.requestId}: no token sampled after a complete prefill`);
      request.appendOutputToken(tokenId);
      const reason = finishReasons.get(item.requestId) ?? (request.numTokens >= this.config.maxModelLen ? 'length' : undefined);
      if (reason !== undefined) finished.push(this.finish(request, reason));
    }
    for (const [requestId, reason] of finishReasons) {
      const request = this.requests.get(requestId);
      if (request !== undefined) finished.push(this.finish(request, reason));
    }
    return finished;
  }

  /**
   * Every broken rule, as messages; empty when consistent: the KV cache's own checks, queue and
   * status agreement, and blocks held by exactly the running requests, covering their computed
   * tokens plus those scheduled and not yet updated. For tests.
   */
  listInvariantViolations(): string[] {
    const violations = this.kvCacheManager.listInvariantViolations();
    const kv = this.kvCacheManager;
    if (this.running.length > this.config.maxNumSeqs) violations.push(`${this.running.length} running > maxNumSeqs`);
    for (const request of this.running) {
      const { requestId } = request;
      if (request.status !== 'running') violations.push(`${requestId} is in the running list as ${request.status}`);
      const numScheduledTokens = this.numScheduledTokens.get(requestId) ?? 0;
      if (kv.numSlotTokens(requestId) !== request.numComputedTokens + numScheduledTokens) {
        violations.push(
          `${requestId}: ${kv.numSlotTokens(requestId)} slots for ${request.numComputedTokens} computed + ${numScheduledTokens} scheduled tokens`,
        );
      }
      const maxNumTokens = request.pooling === undefined ? this.config.maxModelLen - 1 : this.config.maxModelLen;
      if (request.numComputedTokens >= request.numTokens || request.numTokens > maxNumTokens) {
        violations.push(`${requestId}: ${request.numComputedTokens} computed of ${request.numTokens} tokens`);
      }
    }
    for (const request of this.waiting) {
      if (request.status !== 'waiting' && request.status !== 'preempted') violations.push(`${request.requestId} waits as ${request.status}`);
      if (kv.hasRequest(request.requestId)) violations.push(`waiting ${request.requestId} holds blocks`);
      if (request.numComputedTokens !== 0) violations.push(`waiting ${request.requestId} has computed tokens`);
    }
    if (this.requests.size !== this.running.length + this.waiting.length) {
      violations.push(`${this.requests.size} requests but ${this.running.length} running + ${this.waiting.length} waiting`);
    }
    return violations;
  }

  /** tokens `request` computes this step, after `numComputedTokens`: the rest, capped */
  private numTokensToSchedule(request: Request<P>, numComputedTokens: number, budget: number): number {
    const numNewTokens = Math.min(request.numTokens - numComputedTokens, this.config.chunkedPrefillTokens, budget);
    invariant(numNewTokens > 0, `${request.requestId} has nothing to compute`);
    return numNewTokens;
  }

  private describe(request: Request<P>, numTokens: number): ScheduledRequest {
    const startPosition = request.numComputedTokens;
    const endPosition = startPosition + numTokens;
    return {
      requestId: request.requestId,
      numTokens,
      startPosition,
      tokenIds: request.allTokenIds.slice(startPosition, endPosition),
      blockTable: this.kvCacheManager.blockTable(request.requestId),
      isPrefillComplete: endPosition === request.numTokens,
      pooling: request.pooling,
    };
  }

  /** recompute style: drop the blocks, start over from the front of the queue */
  private preempt(request: Request<P>): void {
    this.kvCacheManager.free(request.requestId);
    request.status = 'preempted';
    request.numComputedTokens = 0;
    request.numPreemptions++;
    this.numPreemptions++;
    this.waiting.unshift(request);
  }

  private finish(request: Request<P>, reason: FinishReason): FinishedRequest {
    const queue = request.status === 'running' ? this.running : this.waiting;
    const index = queue.indexOf(request);
    invariant(index >= 0, `${request.requestId} is not queued`);
    queue.splice(index, 1);
    this.kvCacheManager.free(request.requestId);
    this.requests.delete(request.requestId);
    request.status = 'finished';
    request.finishReason = reason;
    const finished = { requestId: request.requestId, reason };
    this.finishedSinceSchedule.push(finished);
    return finished;
  }
}
