import { describe, expect, it } from 'vitest';
import { KvCacheManager } from '../cache/kv-cache-manager.js';
import { CapacityError, InvalidRequestError } from '../errors/engine-error.js';
import { Rng } from '../util/rng.js';
import { Request, type FinishReason } from './request.js';
import { Scheduler, type SchedulerConfig } from './scheduler.js';
import type { SchedulerOutput } from './scheduler-output.js';

/** what the tests' fake engine reads from a request's opaque params */
interface TestParams {
  readonly maxTokens: number;
  /** finish with 'stop' after sampling a token divisible by this */
  readonly stopDivisor?: number;
}

/** The fake model's next token after `position` tokens: fixed per (request, position), so recomputing reproduces it. */
function fakeToken(requestId: string, position: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < requestId.length; i++) h = Math.imul(h ^ requestId.charCodeAt(i), 0x01000193);
  return ((h >>> 0) + position * 7919) % 50_000;
}

/** the output a request must end with, however it was scheduled */
function expectedOutput(request: Request<TestParams>, maxModelLen: number): { tokenIds: number[]; reason: FinishReason } {
  const { maxTokens, stopDivisor } = request.params;
  const tokenIds: number[] = [];
  for (let position = request.numPromptTokens; ; position++) {
    const tokenId = fakeToken(request.requestId, position);
    tokenIds.push(tokenId);
    if (stopDivisor !== undefined && tokenId % stopDivisor === 0) return { tokenIds, reason: 'stop' };
    if (tokenIds.length >= maxTokens || position + 1 >= maxModelLen) return { tokenIds, reason: 'length' };
  }
}

/** [requestId, numTokens] of each scheduled request */
function shares(output: SchedulerOutput): [string, number][] {
  return output.scheduled.map((item) => [item.requestId, item.numTokens]);
}

function range(start: number, length: number): number[] {
  return Array.from({ length }, (_, i) => start + i);
}

/**
 * Drives a Scheduler as an engine would, with a fake model over simulated KV slots: each slot
 * records a rolling hash of the token prefix that wrote it, and every attention read checks it
 * against the reader's own prefix, so a shared or reused block with the wrong contents fails.
 * Checks invariants and the step's budget after every schedule() and update.
 */
class Harness {
  readonly kv: KvCacheManager;
  readonly scheduler: Scheduler<TestParams>;
  readonly finishReasons = new Map<string, FinishReason>();
  /** every request added, finished ones included */
  readonly requests = new Map<string, Request<TestParams>>();
  /** [numBlocks * blockSize] prefix hash written to each slot; valid where `isWritten` */
  private readonly slotPrefixHashes: Int32Array;
  private readonly isWritten: Uint8Array;

  constructor(
    readonly config: SchedulerConfig,
    kvOptions: { numBlocks: number; blockSize: number; enablePrefixCaching?: boolean },
  ) {
    this.kv = new KvCacheManager(kvOptions);
    this.scheduler = new Scheduler(config, this.kv);
    this.slotPrefixHashes = new Int32Array(kvOptions.numBlocks * kvOptions.blockSize);
    this.isWritten = new Uint8Array(kvOptions.numBlocks * kvOptions.blockSize);
  }

  add(requestId: string, promptTokenIds: readonly number[], params: TestParams, signal?: AbortSignal): Request<TestParams> {
    const request = new Request({ requestId, promptTokenIds, params, signal });
    this.scheduler.addRequest(request);
    this.requests.set(requestId, request);
    return request;
  }

  step(hooks: { beforeUpdate?: (output: SchedulerOutput) => void } = {}): SchedulerOutput {
    const output = this.scheduler.schedule();
    expect(this.scheduler.listInvariantViolations()).toEqual([]);
    this.checkBudget(output);
    this.execute(output);
    for (const { requestId, reason } of output.finished) this.recordFinish(requestId, reason);
    hooks.beforeUpdate?.(output);

    const sampled = new Map<string, number>();
    const finishReasons = new Map<string, FinishReason>();
    for (const item of output.scheduled) {
      const request = this.requests.get(item.requestId)!;
      if (!item.isPrefillComplete || request.isFinished) continue;
      const tokenId = fakeToken(item.requestId, request.numTokens);
      sampled.set(item.requestId, tokenId);
      const { maxTokens, stopDivisor } = request.params;
      if (stopDivisor !== undefined && tokenId % stopDivisor === 0) finishReasons.set(item.requestId, 'stop');
      else if (request.numOutputTokens + 1 >= maxTokens) finishReasons.set(item.requestId, 'length');
    }
    for (const { requestId, reason } of this.scheduler.updateFromOutput(output, sampled, finishReasons)) {
      this.recordFinish(requestId, reason);
    }
    expect(this.scheduler.listInvariantViolations()).toEqual([]);
    return output;
  }

  /** steps until nothing is left; returns the number of steps */
  runUntilIdle(maxSteps = 10_000): number {
    let numSteps = 0;
    while (this.scheduler.numUnfinished > 0) {
      expect(++numSteps).toBeLessThanOrEqual(maxSteps);
      this.step();
    }
    this.step(); // collect the last finished ids
    return numSteps;
  }

  expectNoLeaks(): void {
    expect(this.scheduler.numUnfinished).toBe(0);
    expect(this.kv.numFreeBlocks).toBe(this.kv.pool.numBlocks);
    expect(this.kv.usage).toBe(0);
    expect(this.kv.listInvariantViolations()).toEqual([]);
  }

  /** each unaborted request finished with exactly the tokens the fake model gives */
  expectCorrectOutputs(): void {
    for (const request of this.requests.values()) {
      expect(request.isFinished).toBe(true);
      expect(this.finishReasons.get(request.requestId)).toBe(request.finishReason);
      if (request.finishReason === 'abort') continue;
      const expected = expectedOutput(request, this.config.maxModelLen);
      expect({ id: request.requestId, tokenIds: request.outputTokenIds, reason: request.finishReason }).toEqual({
        id: request.requestId,
        ...expected,
      });
    }
  }

  private recordFinish(requestId: string, reason: FinishReason): void {
    const previous = this.finishReasons.get(requestId);
    expect(previous === undefined || previous === reason).toBe(true);
    this.finishReasons.set(requestId, reason);
  }

  private checkBudget(output: SchedulerOutput): void {
    const { maxNumBatchedTokens, maxNumSeqs } = this.config;
    const chunkedPrefillTokens = this.config.chunkedPrefillTokens ?? maxNumBatchedTokens;
    expect(output.numBatchedTokens).toBe(output.scheduled.reduce((sum, item) => sum + item.numTokens, 0));
    expect(output.numBatchedTokens).toBeLessThanOrEqual(maxNumBatchedTokens);
    expect(output.scheduled.length).toBeLessThanOrEqual(maxNumSeqs);
    expect(new Set(output.scheduled.map((item) => item.requestId)).size).toBe(output.scheduled.length);
    for (const item of output.scheduled) {
      const request = this.requests.get(item.requestId)!;
      expect(item.numTokens).toBeGreaterThan(0);
      expect(item.numTokens).toBeLessThanOrEqual(chunkedPrefillTokens);
      expect(item.tokenIds).toEqual(request.allTokenIds.slice(item.startPosition, item.startPosition + item.numTokens));
      expect(item.blockTable).toEqual(this.kv.blockTable(item.requestId));
      expect(item.blockTable.length).toBe(this.kv.numBlocksFor(item.startPosition + item.numTokens));
      expect(item.isPrefillComplete).toBe(item.startPosition + item.numTokens === request.numTokens);
      expect(output.preempted).not.toContain(item.requestId);
    }
  }

  /** the forward pass: write each token's slot, then read every earlier slot of its sequence */
  private execute(output: SchedulerOutput): void {
    const blockSize = this.kv.blockSize;
    const slotOf = (blockTable: Int32Array, position: number): number =>
      blockTable[Math.floor(position / blockSize)]! * blockSize + (position % blockSize);
    const checkReads = (item: SchedulerOutput['scheduled'][number], prefixHashes: Int32Array): void => {
      for (let position = 0; position < item.startPosition + item.numTokens; position++) {
        const slot = slotOf(item.blockTable, position);
        if (!this.isWritten[slot] || this.slotPrefixHashes[slot] !== prefixHashes[position]) {
          expect.fail(`${item.requestId} reads a wrong K/V at position ${position}`);
        }
      }
    };
    const prefixHashesById = new Map<string, Int32Array>();
    for (const item of output.scheduled) {
      const tokenIds = this.requests.get(item.requestId)!.allTokenIds;
      const prefixHashes = new Int32Array(tokenIds.length); // [numTokens] hash of tokenIds[0..i]
      let hash = 17;
      tokenIds.forEach((tokenId, i) => (prefixHashes[i] = hash = Math.imul(hash, 1_000_003) + tokenId));
      prefixHashesById.set(item.requestId, prefixHashes);
      for (let position = item.startPosition; position < item.startPosition + item.numTokens; position++) {
        const slot = slotOf(item.blockTable, position);
        this.slotPrefixHashes[slot] = prefixHashes[position]!;
        this.isWritten[slot] = 1;
      }
      checkReads(item, prefixHashes);
    }
    // no sequence overwrote what another one of this step reads
    for (const item of output.scheduled) checkReads(item, prefixHashesById.get(item.requestId)!);
  }
}

const BASE_CONFIG: SchedulerConfig = { maxNumSeqs: 8, maxNumBatchedTokens: 64, maxModelLen: 128 };

describe('Scheduler: admission', () => {
  it('rejects a prompt that leaves no room to generate with PROMPT_TOO_LONG', () => {
    const h = new Harness(BASE_CONFIG, { numBlocks: 16, blockSize: 8 });
    for (const length of [128, 129]) {
      const error = (() => {
        try {
          h.add(`r${length}`, range(0, length), { maxTokens: 1 });
        } catch (err) {
          return err;
        }
      })();
      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({ code: 'PROMPT_TOO_LONG' });
    }
    h.add('ok', range(0, 127), { maxTokens: 5 });
    h.runUntilIdle();
    expect(h.requests.get('ok')!.outputTokenIds).toHaveLength(1); // maxModelLen ends it
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });

  it('rejects empty prompts, reused ids and reused requests', () => {
    const h = new Harness(BASE_CONFIG, { numBlocks: 16, blockSize: 8 });
    expect(() => h.add('empty', [], { maxTokens: 1 })).toThrow(InvalidRequestError);
    const request = h.add('a', [1, 2], { maxTokens: 1 });
    expect(() => h.add('a', [3], { maxTokens: 1 })).toThrow(/in use/);
    h.runUntilIdle();
    expect(() => h.scheduler.addRequest(request)).toThrow(/not new/);
  });

  it('detects a full queue, and refuses with CapacityError QUEUE_FULL', () => {
    const h = new Harness({ ...BASE_CONFIG, maxNumSeqs: 1, maxQueueLength: 2 }, { numBlocks: 16, blockSize: 8 });
    h.add('a', [1], { maxTokens: 3 });
    expect(h.scheduler.isQueueFull()).toBe(false);
    h.add('b', [2], { maxTokens: 3 });
    expect(h.scheduler.isQueueFull()).toBe(true);
    expect(() => h.add('c', [3], { maxTokens: 3 })).toThrow(CapacityError);
    expect(() => h.add('c', [3], { maxTokens: 3 })).toThrow(expect.objectContaining({ code: 'QUEUE_FULL' }));
    h.step(); // a runs; only b waits
    expect(h.scheduler.isQueueFull()).toBe(false);
    h.add('c', [3], { maxTokens: 3 });
    h.runUntilIdle();
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });

  it('rejects a configuration that cannot guarantee progress', () => {
    const kv = new KvCacheManager({ numBlocks: 7, blockSize: 16 });
    expect(() => new Scheduler({ ...BASE_CONFIG, maxModelLen: 128 }, kv)).toThrow(/needs 8 KV blocks/);
    expect(() => new Scheduler({ ...BASE_CONFIG, maxModelLen: 112, maxNumBatchedTokens: 0 }, kv)).toThrow(InvalidRequestError);
    expect(() => new Scheduler({ ...BASE_CONFIG, maxModelLen: 112, maxNumBatchedTokens: 4 }, kv)).toThrow(/below maxNumSeqs/);
    expect(() => new Scheduler({ ...BASE_CONFIG, maxModelLen: 112, maxQueueLength: 0 }, kv)).toThrow(/maxQueueLength/);
  });
});

describe('Scheduler: steps', () => {
  it('prefills a long prompt in budget-sized chunks, sampling only after the last', () => {
    const h = new Harness({ ...BASE_CONFIG, maxNumBatchedTokens: 16 }, { numBlocks: 16, blockSize: 8 });
    h.add('a', range(0, 50), { maxTokens: 3 });
    const steps = [h.step(), h.step(), h.step(), h.step()];
    const chunks = steps.map((step) => step.scheduled.map((item) => [item.startPosition, item.numTokens, item.isPrefillComplete]));
    expect(chunks).toEqual([[[0, 16, false]], [[16, 16, false]], [[32, 16, false]], [[48, 2, true]]]);
    expect(h.requests.get('a')!.numOutputTokens).toBe(1);
    expect(h.step().scheduled).toEqual([expect.objectContaining({ startPosition: 50, numTokens: 1, isPrefillComplete: true })]);
    h.runUntilIdle();
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });

  it('caps each request at chunkedPrefillTokens, sharing the budget', () => {
    const h = new Harness({ ...BASE_CONFIG, maxNumBatchedTokens: 32, chunkedPrefillTokens: 12 }, { numBlocks: 32, blockSize: 8 });
    h.add('a', range(0, 20), { maxTokens: 2 });
    h.add('b', range(100, 20), { maxTokens: 2 });
    h.add('c', range(200, 20), { maxTokens: 2 });
    const first = h.step();
    expect(shares(first)).toEqual([['a', 12], ['b', 12], ['c', 8]]);
    h.runUntilIdle();
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });

  it('mixes running decodes with a new prefill, decodes first', () => {
    const h = new Harness({ ...BASE_CONFIG, maxNumBatchedTokens: 20 }, { numBlocks: 32, blockSize: 8 });
    h.add('a', range(0, 5), { maxTokens: 10 });
    h.add('b', range(10, 5), { maxTokens: 10 });
    h.step();
    h.add('long', range(100, 60), { maxTokens: 2 });
    const mixed = h.step();
    expect(shares(mixed)).toEqual([['a', 1], ['b', 1], ['long', 18]]);
    // the long prefill, now running, still yields to the decodes
    expect(shares(h.step())).toEqual([['a', 1], ['b', 1], ['long', 18]]);
    h.runUntilIdle();
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });

  it('schedules decodes ahead of an older request still prefilling', () => {
    const h = new Harness({ ...BASE_CONFIG, maxNumBatchedTokens: 16, chunkedPrefillTokens: 13 }, { numBlocks: 32, blockSize: 8 });
    h.add('long', range(0, 40), { maxTokens: 2 });
    h.add('short', [1, 2, 3], { maxTokens: 5 });
    expect(shares(h.step())).toEqual([['long', 13], ['short', 3]]);
    expect(shares(h.step())).toEqual([['short', 1], ['long', 13]]);
    h.runUntilIdle();
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });

  it('runs at most maxNumSeqs requests', () => {
    const h = new Harness({ ...BASE_CONFIG, maxNumSeqs: 2 }, { numBlocks: 32, blockSize: 8 });
    for (const id of ['a', 'b', 'c']) h.add(id, [1, 2, 3], { maxTokens: 3 });
    expect(h.step().scheduled.map((item) => item.requestId)).toEqual(['a', 'b']);
    expect(h.scheduler.stats).toMatchObject({ numRunning: 2, numWaiting: 1 });
    h.runUntilIdle();
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });

  it('finishes requests on the caller\'s word and frees their blocks at once', () => {
    const h = new Harness(BASE_CONFIG, { numBlocks: 16, blockSize: 8 });
    h.add('stops', [1, 2, 3], { maxTokens: 100, stopDivisor: 1 }); // every token is a stop token
    h.add('runs', [4, 5, 6], { maxTokens: 200 });
    const freeBefore = h.kv.numFreeBlocks;
    h.step();
    expect(h.requests.get('stops')!.finishReason).toBe('stop');
    expect(h.kv.hasRequest('stops')).toBe(false);
    expect(h.kv.numFreeBlocks).toBe(freeBefore - 1);
    expect(h.step().finished).toEqual([{ requestId: 'stops', reason: 'stop' }]);
    h.runUntilIdle();
    expect(h.requests.get('runs')!).toMatchObject({ finishReason: 'length', numTokens: 128 }); // stopped by maxModelLen
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });
});

describe('Scheduler: preemption', () => {
  it('preempts the newest request when blocks run out; everyone still completes exactly', () => {
    // 4 blocks of 4 hold 16 tokens; each request grows to 5 + 8 = 13 tokens (4 blocks)
    const h = new Harness({ maxNumSeqs: 4, maxNumBatchedTokens: 32, maxModelLen: 16 }, { numBlocks: 4, blockSize: 4 });
    for (const id of ['a', 'b', 'c']) h.add(id, range(id.charCodeAt(0) * 10, 5), { maxTokens: 8 });
    const preempted: string[] = [];
    let numSteps = 0;
    while (h.scheduler.numUnfinished > 0) {
      expect(++numSteps).toBeLessThan(200);
      const output = h.step();
      for (const requestId of output.preempted) {
        const request = h.requests.get(requestId)!;
        expect(request.status).toBe('preempted');
        expect(h.kv.hasRequest(requestId)).toBe(false);
        expect(output.scheduled.some((item) => item.requestId === requestId)).toBe(false);
        preempted.push(requestId);
      }
    }
    expect(preempted.length).toBeGreaterThan(0);
    expect(preempted).not.toContain('a'); // the oldest request keeps its blocks
    expect(h.scheduler.stats.numPreemptions).toBe(preempted.length);
    h.step();
    h.expectCorrectOutputs();
    for (const request of h.requests.values()) expect(request.numOutputTokens).toBe(8);
    h.expectNoLeaks();
  });

  it('puts a preempted request back at the front of the queue and recomputes its outputs', () => {
    const h = new Harness({ maxNumSeqs: 4, maxNumBatchedTokens: 32, maxModelLen: 16 }, { numBlocks: 4, blockSize: 4, enablePrefixCaching: false });
    h.add('a', range(0, 8), { maxTokens: 8 });
    h.add('b', range(50, 7), { maxTokens: 8 });
    h.step(); // a: 2 blocks, b: 2 blocks
    h.add('c', [1], { maxTokens: 1 });
    let output = h.step(); // a and b decode into their last slots
    while (output.preempted.length === 0) output = h.step();
    expect(output.preempted).toEqual(['b']);
    const b = h.requests.get('b')!;
    expect(b).toMatchObject({ status: 'preempted', numComputedTokens: 0, numPreemptions: 1 });
    expect(b.numOutputTokens).toBeGreaterThan(0);
    h.runUntilIdle();
    expect(h.finishReasons.get('b')).toBe('length');
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });
});

describe('Scheduler: prefix caching', () => {
  it('shares the blocks of a common prompt prefix (ref count 2) and computes only the rest', () => {
    const h = new Harness(BASE_CONFIG, { numBlocks: 32, blockSize: 8 });
    const system = range(1000, 32);
    h.add('a', [...system, 1, 2, 3], { maxTokens: 4 });
    h.step();
    h.add('b', [...system, 7, 8], { maxTokens: 4 });
    const output = h.step();
    const b = output.scheduled.find((item) => item.requestId === 'b')!;
    expect(b).toMatchObject({ startPosition: 32, numTokens: 2, isPrefillComplete: true });
    const aTable = h.kv.blockTable('a');
    expect([...b.blockTable.subarray(0, 4)]).toEqual([...aTable.subarray(0, 4)]);
    for (const blockId of aTable.subarray(0, 4)) expect(h.kv.pool.refCount(blockId)).toBe(2);
    expect(h.requests.get('b')!.numCachedTokens).toBe(32);
    expect(h.scheduler.stats).toMatchObject({ numPrefixCacheQueryTokens: 35 + 34, numPrefixCacheHitTokens: 32 });
    h.runUntilIdle();
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });

  it('lets a later request reuse the blocks of a finished one', () => {
    const h = new Harness(BASE_CONFIG, { numBlocks: 32, blockSize: 8 });
    h.add('a', range(0, 20), { maxTokens: 6 });
    h.runUntilIdle();
    const a = h.requests.get('a')!;
    expect(a.numTokens).toBe(26); // the last token was sampled, never computed: 3 full blocks cached
    h.add('b', a.allTokenIds.slice(0, 25), { maxTokens: 2 });
    expect(h.step().scheduled).toEqual([expect.objectContaining({ requestId: 'b', startPosition: 24, numTokens: 1 })]);
    h.runUntilIdle();
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });
});

describe('Scheduler: abort', () => {
  it('frees the blocks of a request aborted mid-prefill or mid-decode', () => {
    const h = new Harness({ ...BASE_CONFIG, maxNumBatchedTokens: 16 }, { numBlocks: 32, blockSize: 8 });
    h.add('decoding', [1, 2, 3], { maxTokens: 50 });
    h.add('prefilling', range(0, 100), { maxTokens: 5 });
    h.step();
    h.step();
    expect(h.kv.hasRequest('prefilling')).toBe(true);
    expect(h.scheduler.abort('prefilling')).toBe(true);
    expect(h.kv.hasRequest('prefilling')).toBe(false);
    expect(h.scheduler.abort('prefilling')).toBe(false);
    expect(h.step().finished).toEqual([{ requestId: 'prefilling', reason: 'abort' }]);
    h.scheduler.abort('decoding');
    h.step();
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });

  it('aborts through the AbortSignal at the next step, and while waiting', () => {
    const h = new Harness({ ...BASE_CONFIG, maxNumSeqs: 1 }, { numBlocks: 32, blockSize: 8 });
    const running = new AbortController();
    const waiting = new AbortController();
    h.add('running', [1, 2, 3], { maxTokens: 50 }, running.signal);
    h.add('waiting', [4, 5, 6], { maxTokens: 50 }, waiting.signal);
    h.step();
    running.abort();
    waiting.abort();
    expect(h.requests.get('running')!.isAborted).toBe(true);
    const output = h.step();
    expect(output.scheduled).toEqual([]);
    expect(output.finished).toEqual([
      { requestId: 'running', reason: 'abort' },
      { requestId: 'waiting', reason: 'abort' },
    ]);
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });

  it('skips a request aborted between schedule() and updateFromOutput()', () => {
    const h = new Harness(BASE_CONFIG, { numBlocks: 32, blockSize: 8 });
    h.add('a', range(0, 10), { maxTokens: 5 });
    h.add('b', range(20, 10), { maxTokens: 5 });
    h.step({ beforeUpdate: () => h.scheduler.abort('a') });
    expect(h.requests.get('a')!.outputTokenIds).toEqual([]);
    h.runUntilIdle();
    h.expectCorrectOutputs();
    h.expectNoLeaks();
  });
});

describe('Scheduler: randomized stress', () => {
  const systemPrompts = [range(5000, 23), range(6000, 9), range(7000, 40)];

  function randomPrompt(rng: Rng, maxLength: number): number[] {
    const base = rng.next() < 0.5 ? systemPrompts[Math.floor(rng.next() * systemPrompts.length)]! : [];
    const numTail = 1 + Math.floor(rng.next() * 40);
    const prompt = [...base, ...Array.from({ length: numTail }, () => Math.floor(rng.next() * 50))];
    return rng.next() < 0.05 ? [...prompt, ...range(0, maxLength)] : prompt;
  }

  for (const seed of [1, 2, 3]) {
    it(`keeps every invariant under random arrivals, finishes and aborts (seed ${seed})`, () => {
      const config: SchedulerConfig = { maxNumSeqs: 6, maxNumBatchedTokens: 32, chunkedPrefillTokens: 12, maxModelLen: 96, maxQueueLength: 12 };
      const h = new Harness(config, { numBlocks: 40, blockSize: 4 });
      const rng = new Rng(seed);
      const controllers = new Map<string, AbortController>();
      let numRejectedTooLong = 0;
      let numRejectedFull = 0;
      for (let step = 0; step < 700; step++) {
        if (step < 600 && rng.next() < 0.6) {
          const requestId = `r${step}`;
          const prompt = randomPrompt(rng, config.maxModelLen);
          const params = { maxTokens: 1 + Math.floor(rng.next() * 40), stopDivisor: rng.next() < 0.5 ? 29 : undefined };
          const controller = new AbortController();
          const isFull = h.scheduler.isQueueFull();
          try {
            h.add(requestId, prompt, params, controller.signal);
            controllers.set(requestId, controller);
            expect(isFull).toBe(false);
          } catch (err) {
            if (err instanceof CapacityError) {
              expect(isFull).toBe(true);
              numRejectedFull++;
            } else {
              expect(err).toMatchObject({ code: 'PROMPT_TOO_LONG' });
              expect(prompt.length).toBeGreaterThanOrEqual(config.maxModelLen);
              numRejectedTooLong++;
            }
          }
        }
        const unfinished = [...h.requests.values()].filter((request) => !request.isFinished);
        const pick = (): string | undefined => unfinished[Math.floor(rng.next() * unfinished.length)]?.requestId;
        const roll = rng.next();
        if (roll < 0.02) {
          const requestId = pick();
          if (requestId !== undefined) h.scheduler.abort(requestId);
        } else if (roll < 0.04) {
          const requestId = pick();
          if (requestId !== undefined) controllers.get(requestId)!.abort();
        }
        const abortMidStep = rng.next() < 0.02 ? pick() : undefined;
        h.step({ beforeUpdate: () => abortMidStep !== undefined && h.scheduler.abort(abortMidStep) });
      }
      h.runUntilIdle();
      h.expectCorrectOutputs();
      h.expectNoLeaks();

      const stats = h.scheduler.stats;
      const reasons = [...h.finishReasons.values()];
      // the run exercised what it claims to
      expect(stats.numPreemptions).toBeGreaterThan(0);
      expect(stats.numPrefixCacheHitTokens).toBeGreaterThan(0);
      expect(numRejectedTooLong).toBeGreaterThan(0);
      expect(numRejectedFull).toBeGreaterThan(0);
      for (const reason of ['stop', 'length', 'abort'] as const) expect(reasons).toContain(reason);
    });
  }
});
