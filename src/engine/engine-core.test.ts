import { describe, expect, it } from 'vitest';
import { InvalidRequestError, RequestFailedError } from '../errors/engine-error.js';
import { MetadataReader } from '../formats/gguf/index.js';
import type { Runner, RunnerOutput } from '../runner/model-runner.js';
import { Sampler } from '../sampling/sampler.js';
import { Request } from '../scheduler/request.js';
import type { SchedulerOutput } from '../scheduler/scheduler-output.js';
import { buildSpmVocab } from '../testing/synthetic-vocab.js';
import { StreamingDetokenizer } from '../tokenizer/streaming-detokenizer.js';
import { createTokenizer } from '../tokenizer/tokenizer.js';
import { EngineCore, type EngineCoreConfig, type RequestState } from './engine-core.js';
import type { GenerationChunk } from './generation-options.js';
import { StopMatcher } from './stop-matcher.js';
import type { TokenConstraint } from '../grammar/token-constraint.js';

const VOCAB_SIZE = 512;
const tokenizer = createTokenizer(new MetadataReader(new Map(Object.entries(buildSpmVocab(VOCAB_SIZE, 0).metadata)), 'test'));
const EOS = tokenizer.eosId!;

/**
 * A runner that runs no model: each request samples the next token of its script (then 300
 * forever), as a logits row with one peak; NaN rows for requests named in `nonFinite`.
 */
class FakeRunner implements Runner {
  readonly steps: { requestId: string; numTokens: number; startPosition: number }[][] = [];
  constructor(
    private readonly scripts: ReadonlyMap<string, readonly number[]>,
    private readonly nonFinite: ReadonlySet<string> = new Set(),
  ) {}
  private readonly numSampled = new Map<string, number>();
  private lastLogits = new Float32Array(0);

  execute(output: SchedulerOutput): RunnerOutput {
    this.steps.push(output.scheduled.map((s) => ({ requestId: s.requestId, numTokens: s.numTokens, startPosition: s.startPosition })));
    const requestIds = output.scheduled.filter((s) => s.isPrefillComplete).map((s) => s.requestId);
    const logits = new Float32Array(requestIds.length * VOCAB_SIZE); // [requestIds.length, vocabSize]
    requestIds.forEach((requestId, row) => {
      const rowLogits = logits.subarray(row * VOCAB_SIZE, (row + 1) * VOCAB_SIZE);
      if (this.nonFinite.has(requestId)) return rowLogits.fill(NaN);
      const i = this.numSampled.get(requestId) ?? 0;
      this.numSampled.set(requestId, i + 1);
      rowLogits[this.scripts.get(requestId)?.[i] ?? 300] = 10;
    });
    this.lastLogits = logits.slice();
    return { requestIds, logits, vocabSize: VOCAB_SIZE };
  }

  argmaxRows(numRows: number): Int32Array {
    return Int32Array.from({ length: numRows }, (_, r) => {
      const row = this.lastLogits.subarray(r * VOCAB_SIZE, (r + 1) * VOCAB_SIZE);
      return row.indexOf(Math.max(...row));
    });
  }
}

interface Stream {
  readonly chunks: GenerationChunk[];
  isEnded: boolean;
  error: unknown;
}

function request(
  requestId: string,
  numPromptTokens: number,
  maxTokens: number,
  extra: Partial<RequestState> = {},
): { request: Request<RequestState>; stream: Stream } {
  const stream: Stream = { chunks: [], isEnded: false, error: undefined };
  const state: RequestState = {
    sampler: new Sampler({ temperature: 0 }),
    detokenizer: new StreamingDetokenizer(tokenizer),
    stopMatcher: new StopMatcher([]),
    maxTokens,
    ignoreEos: false,
    numLogprobs: undefined,
    emit: (chunk) => stream.chunks.push(chunk),
    end: () => (stream.isEnded = true),
    fail: (error) => (stream.error = error),
    ...extra,
  };
  const promptTokenIds = Array.from({ length: numPromptTokens }, (_, i) => 260 + i);
  return { request: new Request({ requestId, promptTokenIds, params: state }), stream };
}

const config: EngineCoreConfig = { maxNumSeqs: 4, maxNumBatchedTokens: 8, maxQueueLength: 16, maxModelLen: 64, numKvBlocks: 16, blockSize: 4 };

/** steps until no request is open; checks the KV accounting after every step */
function runToEnd(core: EngineCore, maxSteps = 50): void {
  for (let i = 0; core.hasWork; i++) {
    expect(i).toBeLessThan(maxSteps);
    core.step();
    expect(core.scheduler.kvCacheManager.listInvariantViolations()).toEqual([]);
  }
}

describe('EngineCore with a fake runner (no kernels)', () => {
  it('prefills in chunks within the token budget, decodes, stops at EOS or maxTokens, and frees every KV block', () => {
    const runner = new FakeRunner(new Map([['a', [400, 401, 402, 403]], ['b', [410, EOS]]]));
    const core = new EngineCore(runner, tokenizer, config);
    const a = request('a', 10, 3);
    const b = request('b', 3, 10);
    core.addRequest(a.request);
    core.addRequest(b.request);
    runToEnd(core);

    // step 1: a's first 8-token chunk fills the budget; step 2: the rest of a's prompt, then b's
    // prompt; then one decode token each while both run
    expect(runner.steps[0]).toEqual([{ requestId: 'a', numTokens: 8, startPosition: 0 }]);
    expect(runner.steps[1]).toEqual([
      { requestId: 'a', numTokens: 2, startPosition: 8 },
      { requestId: 'b', numTokens: 3, startPosition: 0 },
    ]);
    expect(runner.steps[2]).toEqual([
      { requestId: 'a', numTokens: 1, startPosition: 10 },
      { requestId: 'b', numTokens: 1, startPosition: 3 },
    ]);
    expect(runner.steps[3]).toEqual([{ requestId: 'a', numTokens: 1, startPosition: 11 }]);
    expect(runner.steps).toHaveLength(4);

    const tokens = (s: Stream): number[] => s.chunks.flatMap((c) => c.tokenIds);
    expect(tokens(a.stream)).toEqual([400, 401, 402]);
    expect(a.stream.chunks.at(-1)).toMatchObject({ finishReason: 'length', usage: { promptTokens: 10, completionTokens: 3 } });
    expect(tokens(b.stream)).toEqual([410, EOS]);
    expect(b.stream.chunks.at(-1)).toMatchObject({ finishReason: 'stop', usage: { promptTokens: 3, completionTokens: 2 } });
    expect([a.stream.isEnded, b.stream.isEnded]).toEqual([true, true]);
    expect(core.scheduler.stats).toMatchObject({ numRunning: 0, numWaiting: 0, kvCacheUsage: 0 });
  });

  it('an abort ends the stream with finishReason abort and frees the request\'s blocks at once', () => {
    const core = new EngineCore(new FakeRunner(new Map()), tokenizer, config);
    const a = request('a', 6, 100);
    core.addRequest(a.request);
    core.step();
    core.step();
    expect(core.scheduler.stats.kvCacheUsage).toBeGreaterThan(0);
    core.abort('a');
    expect(a.stream.chunks.at(-1)).toMatchObject({ finishReason: 'abort' });
    expect(a.stream.isEnded).toBe(true);
    expect(core.hasWork).toBe(false);
    expect(core.scheduler.stats.kvCacheUsage).toBe(0);
  });

  it('a request with non-finite logits fails alone; the others in its batch go on', () => {
    const runner = new FakeRunner(new Map([['good', [400, 401]]]), new Set(['bad']));
    const core = new EngineCore(runner, tokenizer, config);
    const good = request('good', 4, 2);
    const bad = request('bad', 4, 2);
    core.addRequest(good.request);
    core.addRequest(bad.request);
    runToEnd(core);
    expect(bad.stream.error).toBeInstanceOf(RequestFailedError);
    expect((bad.stream.error as RequestFailedError).code).toBe('NON_FINITE_LOGITS');
    expect(good.stream.chunks.flatMap((c) => c.tokenIds)).toEqual([400, 401]);
    expect(good.stream.chunks.at(-1)).toMatchObject({ finishReason: 'length' });
    expect(core.scheduler.stats.kvCacheUsage).toBe(0);
  });
});

/**
 * A test constraint: only `allowed` tokens, end-of-generation once `minTokens` are accepted, and
 * mustEnd at `maxTokens`; records what the engine calls.
 */
class SetConstraint implements TokenConstraint {
  numAccepted = 0;
  numDisposed = 0;
  readonly accepted: number[] = [];
  constructor(
    private readonly allowed: ReadonlySet<number>,
    private readonly minTokens: number,
    private readonly maxTokens: number,
  ) {}
  get canEnd(): boolean {
    return this.numAccepted >= this.minTokens;
  }
  get mustEnd(): boolean {
    return this.numAccepted >= this.maxTokens;
  }
  fillAllowedMask(mask: Uint32Array): void {
    expect(mask.length).toBe(Math.ceil(VOCAB_SIZE / 32));
    mask.fill(0);
    const set = (t: number): void => void (mask[t >>> 5]! |= 1 << (t & 31));
    for (const t of this.allowed) set(t);
    if (this.canEnd) set(EOS);
  }
  acceptToken(tokenId: number): void {
    if (!this.allowed.has(tokenId)) throw new Error(`token ${tokenId} was not allowed`);
    expect(this.numDisposed).toBe(0);
    this.numAccepted++;
    this.accepted.push(tokenId);
  }
  dispose(): void {
    this.numDisposed++;
  }
}

describe('EngineCore: constrained decoding and logit_bias', () => {
  const tokensOf = (s: Stream): number[] => s.chunks.flatMap((c) => c.tokenIds);

  it('a masked token is never produced, greedy or sampled, while a free request in the same steps produces it', () => {
    // every script peaks at 300; the constrained requests may only produce 400..403
    const allowed = new Set([400, 401, 402, 403]);
    for (let seed = 0; seed < 10; seed++) {
      const runner = new FakeRunner(new Map());
      const core = new EngineCore(runner, tokenizer, config);
      const greedy = new SetConstraint(allowed, 100, 100);
      const sampled = new SetConstraint(allowed, 100, 100);
      const free = request('free', 3, 5);
      const g = request('greedy', 3, 5, { constraint: greedy });
      const s = request('sampled', 3, 5, { constraint: sampled, sampler: new Sampler({ temperature: 1, seed }) });
      for (const r of [free, g, s]) core.addRequest(r.request);
      runToEnd(core);
      expect(runner.steps.some((step) => step.length === 3)).toBe(true); // they shared steps
      expect(tokensOf(free.stream)).toEqual([300, 300, 300, 300, 300]);
      expect(tokensOf(g.stream)).toEqual([400, 400, 400, 400, 400]); // the masked row's argmax (ties → lowest id)
      expect(tokensOf(s.stream)).toHaveLength(5);
      expect(tokensOf(s.stream).every((t) => allowed.has(t))).toBe(true);
      expect(sampled.accepted).toEqual(tokensOf(s.stream));
      expect([greedy.numDisposed, sampled.numDisposed]).toEqual([1, 1]);
    }
  });

  it('finishes with stop when the constraint must end, flushes its text, and allows end-of-generation only when it can end', () => {
    // the script asks for EOS first: refused until 2 tokens are accepted, then taken
    const runner = new FakeRunner(new Map([['eos', [EOS, EOS, EOS, EOS]], ['must', [401, 401, 401, 401, 401]]]));
    const core = new EngineCore(runner, tokenizer, config);
    const eosConstraint = new SetConstraint(new Set([401]), 2, 100);
    const mustConstraint = new SetConstraint(new Set([401]), 100, 3);
    const eos = request('eos', 3, 10, { constraint: eosConstraint });
    const must = request('must', 3, 10, { constraint: mustConstraint });
    core.addRequest(eos.request);
    core.addRequest(must.request);
    runToEnd(core);
    expect(tokensOf(eos.stream)).toEqual([401, 401, EOS]);
    expect(eos.stream.chunks.at(-1)).toMatchObject({ finishReason: 'stop' });
    expect(tokensOf(must.stream)).toEqual([401, 401, 401]);
    expect(must.stream.chunks.at(-1)).toMatchObject({ finishReason: 'stop', usage: { completionTokens: 3 } });
    expect(must.stream.chunks.map((c) => c.text).join('')).toBe(tokenizer.decode([401, 401, 401]));
    expect([eosConstraint.numDisposed, mustConstraint.numDisposed]).toEqual([1, 1]);
  });

  it('disposes the constraint once when a request is aborted or fails', () => {
    const core = new EngineCore(new FakeRunner(new Map(), new Set(['bad'])), tokenizer, config);
    const abortedConstraint = new SetConstraint(new Set([401]), 0, 100);
    const badConstraint = new SetConstraint(new Set([401]), 0, 100);
    core.addRequest(request('aborted', 3, 50, { constraint: abortedConstraint }).request);
    const bad = request('bad', 3, 50, { constraint: badConstraint });
    core.addRequest(bad.request);
    core.step();
    core.step();
    core.abort('aborted');
    runToEnd(core);
    expect((bad.stream.error as RequestFailedError).code).toBe('NON_FINITE_LOGITS');
    expect([abortedConstraint.numDisposed, badConstraint.numDisposed]).toEqual([1, 1]);
  });

  it('a constraint that refuses its grammar mid-request (InvalidRequestError) fails that request alone', () => {
    class RefusingConstraint extends SetConstraint {
      override fillAllowedMask(mask: Uint32Array): void {
        if (this.numAccepted === 2) throw new InvalidRequestError('INVALID_ARGUMENT', 'grammar too ambiguous');
        super.fillAllowedMask(mask);
      }
    }
    const core = new EngineCore(new FakeRunner(new Map()), tokenizer, config);
    const refusing = new RefusingConstraint(new Set([401]), 100, 100);
    const bad = request('bad', 3, 10, { constraint: refusing });
    const good = request('good', 3, 4);
    core.addRequest(bad.request);
    core.addRequest(good.request);
    runToEnd(core);
    expect(bad.stream.error).toBeInstanceOf(InvalidRequestError);
    expect(tokensOf(bad.stream)).toEqual([401, 401]);
    expect(refusing.numDisposed).toBe(1);
    expect(tokensOf(good.stream)).toEqual([300, 300, 300, 300]);
    expect(core.scheduler.stats.kvCacheUsage).toBe(0);
  });

  it('keeps a constrained request valid across preemption (the constraint follows the surviving output tokens)', () => {
    // 6 blocks of 4 slots: two requests growing to 16 tokens each cannot both stay
    const small: EngineCoreConfig = { ...config, numKvBlocks: 6, maxModelLen: 24 };
    const allowed = new Set([401, 402, 403]);
    const core = new EngineCore(new FakeRunner(new Map()), tokenizer, small);
    const constraints = [0, 1].map(() => new SetConstraint(allowed, 100, 100));
    const streams = constraints.map((constraint, i) => {
      const r = request(`r${i}`, 4, 12, { constraint, sampler: new Sampler({ temperature: 1, seed: i }) });
      core.addRequest(r.request);
      return r.stream;
    });
    runToEnd(core, 200);
    expect(core.scheduler.stats.numPreemptions).toBeGreaterThan(0);
    streams.forEach((stream, i) => {
      expect(tokensOf(stream)).toHaveLength(12);
      expect(constraints[i]!.accepted).toEqual(tokensOf(stream));
      expect(constraints[i]!.numDisposed).toBe(1);
    });
  });

  it('logit_bias -100 stops a token being produced and +100 forces one, greedy and sampled; logprobs stay the raw distribution', () => {
    const ban = { tokenIds: Int32Array.of(300), biases: Float32Array.of(-100) };
    const force = { tokenIds: Int32Array.of(350), biases: Float32Array.of(100) };
    const core = new EngineCore(new FakeRunner(new Map()), tokenizer, config);
    const banned = request('banned', 3, 4, { logitBias: ban, numLogprobs: 1 });
    const forced = request('forced', 3, 4, { logitBias: force, sampler: new Sampler({ temperature: 1, seed: 7 }) });
    const free = request('free', 3, 4);
    for (const r of [banned, forced, free]) core.addRequest(r.request);
    runToEnd(core);
    expect(tokensOf(free.stream)).toEqual([300, 300, 300, 300]);
    expect(tokensOf(banned.stream)).not.toContain(300);
    expect(tokensOf(banned.stream)).toHaveLength(4);
    expect(tokensOf(forced.stream)).toEqual([350, 350, 350, 350]);
    // raw logprobs: the banned token is still the model's most likely one
    const lp = banned.stream.chunks.find((c) => c.logprobs)!.logprobs![0]!;
    expect(lp.topLogprobs[0]!.tokenId).toBe(300);
  });
});

/** FakeRunner's output, handed back as a promise settled when the test calls `settle` (a forward pass on workers). */
class AsyncFakeRunner implements Runner {
  readonly inner: FakeRunner;
  private pending: (() => void) | undefined;
  constructor(scripts: ReadonlyMap<string, readonly number[]>) {
    this.inner = new FakeRunner(scripts);
  }
  execute(output: SchedulerOutput): Promise<RunnerOutput> {
    const result = this.inner.execute(output);
    return new Promise((resolve) => (this.pending = () => resolve(result)));
  }
  argmaxRows(numRows: number): Int32Array {
    return this.inner.argmaxRows(numRows);
  }
  /** settles the step in flight */
  settle(): void {
    const pending = this.pending!;
    this.pending = undefined;
    pending();
  }
}

describe('EngineCore with an async runner', () => {
  it('a sync runner steps synchronously: step() returns undefined', () => {
    const core = new EngineCore(new FakeRunner(new Map()), tokenizer, config);
    core.addRequest(request('a', 3, 2).request);
    expect(core.step()).toBeUndefined();
  });

  it('produces the same tokens, chunks and steps as the sync runner, one awaited step at a time', async () => {
    const scripts = new Map([['a', [400, 401, 402, 403]], ['b', [410, EOS]]]);
    const syncRunner = new FakeRunner(scripts);
    const syncCore = new EngineCore(syncRunner, tokenizer, config);
    const syncStreams = [request('a', 10, 3), request('b', 3, 10)];
    for (const r of syncStreams) syncCore.addRequest(r.request);
    runToEnd(syncCore);

    const asyncRunner = new AsyncFakeRunner(scripts);
    const core = new EngineCore(asyncRunner, tokenizer, config);
    const streams = [request('a', 10, 3), request('b', 3, 10)];
    for (const r of streams) core.addRequest(r.request);
    for (let i = 0; core.hasWork; i++) {
      expect(i).toBeLessThan(50);
      const step = core.step();
      expect(step).toBeInstanceOf(Promise);
      expect(() => core.step()).toThrow(/in flight/); // one step at a time
      asyncRunner.settle();
      await step;
      expect(core.scheduler.kvCacheManager.listInvariantViolations()).toEqual([]);
    }
    expect(asyncRunner.inner.steps).toEqual(syncRunner.steps);
    expect(streams.map((s) => s.stream.chunks)).toEqual(syncStreams.map((s) => s.stream.chunks));
    expect(streams.every((s) => s.stream.isEnded)).toBe(true);
  });

  it('an abort while a step is in flight ends that request at once and skips its row; the other request goes on', async () => {
    const runner = new AsyncFakeRunner(new Map([['a', [400, 401, 402]], ['b', [410, 411, 412]]]));
    const core = new EngineCore(runner, tokenizer, config);
    const a = request('a', 3, 3);
    const b = request('b', 3, 3);
    core.addRequest(a.request);
    core.addRequest(b.request);
    const step = core.step()!;
    core.abort('a');
    expect(a.stream.chunks.at(-1)?.finishReason).toBe('abort');
    expect(a.stream.isEnded).toBe(true);
    const c = request('c', 2, 1);
    core.addRequest(c.request); // joins while the step is in flight, runs in the next
    runner.settle();
    await step;
    expect(a.stream.chunks.flatMap((ch) => ch.tokenIds)).toEqual([]); // its sampled row was dropped
    expect(b.stream.chunks.flatMap((ch) => ch.tokenIds)).toEqual([410]);
    while (core.hasWork) {
      const next = core.step()!;
      runner.settle();
      await next;
      expect(core.scheduler.kvCacheManager.listInvariantViolations()).toEqual([]);
    }
    expect(b.stream.chunks.flatMap((ch) => ch.tokenIds)).toEqual([410, 411, 412]);
    expect(c.stream.chunks.at(-1)?.finishReason).toBe('length');
    expect(core.scheduler.kvCacheManager.numFreeBlocks).toBe(config.numKvBlocks);
  });

  it('a rejected step rejects step(), and the core can fail its requests (failAll) and take the next step', async () => {
    const runner: Runner = { execute: () => Promise.reject(new Error('worker 1 exited')), argmaxRows: () => new Int32Array(0) };
    const core = new EngineCore(runner, tokenizer, config);
    const a = request('a', 3, 3);
    core.addRequest(a.request);
    await expect(core.step()).rejects.toThrow('worker 1 exited');
    core.failAll(new Error('dead'));
    expect((a.stream.error as Error).message).toBe('dead');
    expect(core.hasWork).toBe(false);
    expect(core.step()).toBeUndefined(); // not left "in flight"
  });
});
