import { describe, expect, it } from 'vitest';
import { CapacityError, InvalidRequestError, loadModel } from '../../src/api/index.js';
import { AsyncEngine } from '../../src/engine/async-engine.js';
import type { GenerationChunk, GenerationOptions } from '../../src/engine/generation-options.js';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';
import { BACKENDS } from '../parity/helpers.js';

const PROMPTS = ['Once upon a time', 'The little dog', 'Lily and Tom went to the park. They', 'One day, a big bird', 'Tim had a red ball.', 'The sun was'];

async function collect(stream: AsyncIterable<GenerationChunk>): Promise<{ text: string; tokenIds: number[]; finishReason?: string }> {
  let text = '';
  const tokenIds: number[] = [];
  let finishReason: string | undefined;
  for await (const c of stream) {
    text += c.text;
    tokenIds.push(...c.tokenIds);
    finishReason = c.finishReason ?? finishReason;
  }
  return { text, tokenIds, finishReason };
}

describe.each(BACKENDS)('AsyncEngine (in-flight batching) on the %s backend', (backend) => {
  it('greedy output of concurrent requests equals the same requests run one at a time', async () => {
    const model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 256, backend, threads: 1 });
    const alone: { tokenIds: number[]; text: string }[] = [];
    for (const p of PROMPTS) alone.push(await model.complete(p, { temperature: 0, maxTokens: 40 + p.length }));
    // a small token budget forces chunked prefill mixed with decode
    const engine = new AsyncEngine(model, { maxNumSeqs: 4, maxNumBatchedTokens: 8 });
    const together = await Promise.all(PROMPTS.map((p) => collect(engine.generate(p, { temperature: 0, maxTokens: 40 + p.length }))));
    together.forEach((r, i) => {
      expect(r.tokenIds).toEqual(alone[i]!.tokenIds);
      expect(r.text).toBe(alone[i]!.text);
      expect(r.finishReason).toBe('length');
    });
    const stats = engine.stats();
    expect(stats.numRunning + stats.numWaiting).toBe(0);
    expect(stats.kvCacheUsage).toBe(0);
    await engine.shutdown();
  });

  it('batched greedy requests with and without a repetition penalty each match their run alone', async () => {
    // plain greedy rows take the kernels' argmax; a penalized one must still go through its sampler
    const model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 256, backend, threads: 1 });
    const options: GenerationOptions[] = [{ temperature: 0, maxTokens: 60 }, { temperature: 0, maxTokens: 60, repetitionPenalty: 1.5 }, { temperature: 0, maxTokens: 60 }];
    const alone: { tokenIds: number[] }[] = [];
    for (const o of options) alone.push(await model.complete('Once upon a time', o));
    expect(alone[1]!.tokenIds).not.toEqual(alone[0]!.tokenIds); // the penalty changes the text
    const engine = new AsyncEngine(model, { maxNumSeqs: 4 });
    const together = await Promise.all(options.map((o) => collect(engine.generate('Once upon a time', o))));
    together.forEach((r, i) => expect(r.tokenIds).toEqual(alone[i]!.tokenIds));
    await engine.shutdown();
  });

  it('shares cached prefix blocks between requests with a common prompt prefix', async () => {
    const model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 256, backend, threads: 1 });
    const engine = new AsyncEngine(model, { maxNumSeqs: 4 });
    const system = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends.';
    const first = await collect(engine.generate(system + ' One day', { temperature: 0, maxTokens: 8 }));
    const before = engine.stats().numPrefixCacheHitTokens;
    const second = await collect(engine.generate(system + ' One day', { temperature: 0, maxTokens: 8 }));
    expect(engine.stats().numPrefixCacheHitTokens - before).toBeGreaterThanOrEqual(16);
    expect(second.tokenIds).toEqual(first.tokenIds); // reused K/V give the same answer
    await engine.shutdown();
  });

  it('an aborted request ends with finishReason abort and frees its KV blocks; others go on', async () => {
    const model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 256, backend, threads: 1 });
    const engine = new AsyncEngine(model, { maxNumSeqs: 4 });
    const controller = new AbortController();
    const victim = (async () => {
      const tokenIds: number[] = [];
      let finishReason: string | undefined;
      for await (const c of engine.generate('Once upon a time', { temperature: 0, maxTokens: 200, signal: controller.signal })) {
        tokenIds.push(...c.tokenIds);
        if (tokenIds.length === 3) controller.abort();
        finishReason = c.finishReason ?? finishReason;
      }
      return { tokenIds, finishReason };
    })();
    const other = collect(engine.generate('The little dog', { temperature: 0, maxTokens: 30 }));
    const [v, o] = await Promise.all([victim, other]);
    expect(v.finishReason).toBe('abort');
    expect(v.tokenIds.length).toBeLessThan(10);
    expect(o.tokenIds).toHaveLength(30);
    expect(engine.stats().kvCacheUsage).toBe(0);
    await engine.shutdown();
  });

  it('a consumer that stops reading early frees its request', async () => {
    const model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 256, backend, threads: 1 });
    const engine = new AsyncEngine(model);
    for await (const c of engine.generate('Once upon a time', { temperature: 0, maxTokens: 200 })) {
      if (c.tokenIds.length) break;
    }
    expect(engine.stats().numRunning + engine.stats().numWaiting).toBe(0);
    expect(engine.stats().kvCacheUsage).toBe(0);
    await engine.shutdown();
  });

  it('stop strings, logprobs and typed errors', async () => {
    const model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 64, backend, threads: 1 });
    const engine = new AsyncEngine(model, { maxNumSeqs: 2, maxQueueLength: 1 });
    const r = await collect(engine.generate('', { temperature: 0, maxTokens: 30, stop: ['Lily'] }));
    expect(r).toMatchObject({ text: 'Once upon a time, there was a little girl named ', finishReason: 'stop' });
    const chunks: GenerationChunk[] = [];
    for await (const c of engine.generate('Once', { temperature: 0, maxTokens: 3, logprobs: 2 })) chunks.push(c);
    const withIds = chunks.filter((c) => c.tokenIds.length);
    expect(withIds).toHaveLength(3);
    for (const c of withIds) {
      expect(c.logprobs![0]!.tokenId).toBe(c.tokenIds[0]);
      expect(c.logprobs![0]!.topLogprobs).toHaveLength(2);
      expect(c.logprobs![0]!.logprob).toBeCloseTo(c.logprobs![0]!.topLogprobs[0]!.logprob, 5); // greedy picks the top one
    }
    expect(() => engine.generate('Once upon a time '.repeat(40))).toThrow(InvalidRequestError);
    expect(() => engine.generate('hi', { topP: 7 })).toThrow(/topP/);
    // requests wait until the next step admits them: with a queue of 1, a second one is refused
    const queued = engine.generate('Once', { temperature: 0, maxTokens: 20 });
    expect(() => engine.generate('Once', { maxTokens: 5 })).toThrow(CapacityError);
    expect((await collect(queued)).tokenIds).toHaveLength(20);
    expect(engine.isQueueFull()).toBe(false);
    await engine.shutdown();
  });
});

describe('a prompt far longer than the context (issue 23, finding 2)', () => {
  it('is refused on its byte length, without tokenizing it; prompts that may fit are still tokenized', async () => {
    using model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 256, backend: 'reference', threads: 1 });
    const engine = new AsyncEngine(model);
    let numEncoded = 0;
    const encode = model.tokenizer.encode.bind(model.tokenizer);
    model.tokenizer.encode = (text, options) => (numEncoded++, encode(text, options));
    try {
      const huge = 'Once upon a time '.repeat(250_000); // 4.25 MB
      expect(() => engine.generate(huge, { maxTokens: 1 })).toThrow(/PROMPT_TOO_LONG|at least \d+ tokens, the context holds 256/);
      expect(numEncoded).toBe(0);
      // 2000 bytes may or may not fit: tokenized, then refused on the real count
      expect(() => engine.generate('Once upon a time '.repeat(120), { maxTokens: 1 })).toThrow(InvalidRequestError);
      expect(numEncoded).toBe(1);
    } finally {
      await engine.shutdown();
    }
  });
});

describe('timings on the last chunk (vLLM queue, prefill and decode times)', () => {
  it('a request that waits behind another (maxNumSeqs 1) has a queue time of about the first one’s whole run', async () => {
    const model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 256, threads: 1 });
    const engine = new AsyncEngine(model, { maxNumSeqs: 1 });
    const lastChunk = async (stream: AsyncIterable<GenerationChunk>): Promise<GenerationChunk> => {
      let last: GenerationChunk | undefined;
      for await (const c of stream) last = c;
      return last!;
    };
    const startedMs = performance.now();
    const [first, second] = await Promise.all([
      lastChunk(engine.generate('Once upon a time', { temperature: 0, maxTokens: 60, ignoreEos: true })),
      lastChunk(engine.generate('The little dog', { temperature: 0, maxTokens: 5, ignoreEos: true })),
    ]);
    const wallMs = performance.now() - startedMs;
    const a = first.timings!;
    const b = second.timings!;
    for (const t of [a, b]) {
      expect(t.queueMs).toBeGreaterThanOrEqual(0);
      expect(t.prefillMs).toBeGreaterThan(0);
      expect(t.decodeMs).toBeGreaterThan(0);
      expect(t.queueMs + t.prefillMs + t.decodeMs).toBeLessThanOrEqual(wallMs + 1);
    }
    // both arrived before the first step; the second was scheduled only once the first had finished
    expect(b.queueMs).toBeGreaterThanOrEqual(a.prefillMs + a.decodeMs);
    expect(a.queueMs).toBeLessThan(b.queueMs);
    // a request with nothing to generate never ran
    expect((await lastChunk(engine.generate('x', { maxTokens: 0 }))).timings).toEqual({ queueMs: 0, prefillMs: 0, decodeMs: 0 });
    await engine.shutdown();
  });
});
