/**
 * - waiting: queued, holds no KV blocks
 * - running: holds blocks; scheduled each step while budget and blocks allow
 * - preempted: lost its blocks to a running request; back at the front of the waiting queue and
 *   recomputed from its prompt and outputs (numComputedTokens restarts at its cached prefix)
 * - finished: done (see `finishReason`); holds no blocks
 */
export type RequestStatus = 'waiting' | 'running' | 'preempted' | 'finished';

/** same words as the engine's and OpenAI's `finish_reason` */
export type FinishReason = 'stop' | 'length' | 'abort';

/**
 * How a pooling (embedding) request makes one vector of its prompt's final hidden states: their
 * mean, the last token's, or the first token's (`cls`).
 */
export type PoolingType = 'mean' | 'last' | 'cls';

export interface RequestInit<P> {
  readonly requestId: string;
  readonly promptTokenIds: readonly number[];
  /** sampling and stop parameters; the scheduler never reads them */
  readonly params: P;
  /** when the request arrived, in ms since the epoch (default now, epochNowMs) */
  readonly arrivalTimeMs?: number;
  /** aborting it finishes the request with 'abort' at the next `schedule()` */
  readonly signal?: AbortSignal;
  /**
   * set for a pooling (embedding) request: its prompt is computed like any other, but nothing is
   * sampled; it finishes ('stop') in the step that completes its prompt. Mean and cls pooling
   * take no cached prefix (they need every row, or the first)
   */
  readonly pooling?: PoolingType;
}

/** ms since the epoch with performance.now()'s sub-millisecond resolution (Date.now() has whole ms) */
export function epochNowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Per-request state for the scheduler. `status`, `numComputedTokens`, `numCachedTokens`,
 * `numPreemptions`, `firstScheduledAtMs` and `finishReason` are written by the Scheduler only.
 */
export class Request<P = unknown> {
  readonly requestId: string;
  readonly promptTokenIds: readonly number[];
  readonly params: P;
  readonly arrivalTimeMs: number;
  readonly signal: AbortSignal | undefined;
  /** a pooling request's pooling; undefined for a generation */
  readonly pooling: PoolingType | undefined;
  status: RequestStatus = 'waiting';
  /** leading tokens of `allTokenIds` whose K/V are in the cache */
  numComputedTokens = 0;
  /** prompt tokens found in the prefix cache when last admitted */
  numCachedTokens = 0;
  numPreemptions = 0;
  /** when it was first scheduled (epochNowMs), for its queue time; undefined while it has only waited */
  firstScheduledAtMs: number | undefined;
  finishReason: FinishReason | undefined;
  private readonly outputs: number[] = [];
  /** prompt then outputs */
  private readonly tokens: number[];

  constructor(init: RequestInit<P>) {
    this.requestId = init.requestId;
    this.promptTokenIds = Object.freeze([...init.promptTokenIds]);
    this.params = init.params;
    this.arrivalTimeMs = init.arrivalTimeMs ?? epochNowMs();
    this.signal = init.signal;
    this.pooling = init.pooling;
    this.tokens = [...init.promptTokenIds];
  }

  get outputTokenIds(): readonly number[] {
    return this.outputs;
  }

  /** prompt then output tokens */
  get allTokenIds(): readonly number[] {
    return this.tokens;
  }

  get numPromptTokens(): number {
    return this.promptTokenIds.length;
  }

  get numOutputTokens(): number {
    return this.outputs.length;
  }

  /** prompt plus output tokens */
  get numTokens(): number {
    return this.tokens.length;
  }

  get isAborted(): boolean {
    return this.signal?.aborted ?? false;
  }

  get isFinished(): boolean {
    return this.status === 'finished';
  }

  appendOutputToken(tokenId: number): void {
    this.outputs.push(tokenId);
    this.tokens.push(tokenId);
  }
}
