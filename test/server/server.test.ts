import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatTemplate } from '../../src/chat/chat-template.js';
import { CapacityError } from '../../src/errors/engine-error.js';
import type { GenerationChunk, GenerationOptions } from '../../src/engine/generation-options.js';
import type { ServingEngine } from '../../src/engine/serving-engine.js';
import { shutdownGracefully } from '../../src/server/graceful-shutdown.js';
import { fetchJson, loadTestEngine, MODEL_NAME, postJson, startTestServer, type TestServer } from './helpers.js';

const PROMPT = 'Once upon a time';
const GREEDY = { model: MODEL_NAME, temperature: 0, max_tokens: 20 } as const;

let engine: ServingEngine;
let t: TestServer;
let openai: OpenAI;

beforeAll(async () => {
  engine = await loadTestEngine();
  t = await startTestServer(engine);
  openai = t.client();
});
afterAll(async () => {
  await t.close();
  await engine.shutdown();
});

async function metricValue(name: string): Promise<number> {
  const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name) && !l.startsWith('#'));
  return line === undefined ? NaN : Number(line.split(' ').at(-1));
}

describe('POST /v1/completions', () => {
  it('greedy output of concurrent requests equals the same requests sent one at a time', async () => {
    const prompts = ['Once upon a time', 'The little dog', 'Lily and Tom went to the park. They', 'One day, a big bird', 'The sun was'];
    const one = async (prompt: string) => (await openai.completions.create({ ...GREEDY, max_tokens: 32, prompt })).choices[0]!.text;
    const alone: string[] = [];
    for (const p of prompts) alone.push(await one(p));
    const together = await Promise.all(prompts.map(one));
    expect(together).toEqual(alone);
    expect(new Set(alone).size).toBe(prompts.length);
  });

  it('greedy text, usage and finish reason', async () => {
    const r = await openai.completions.create({ ...GREEDY, prompt: PROMPT });
    expect(r.object).toBe('text_completion');
    expect(r.model).toBe(MODEL_NAME);
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]!.text).toMatch(/^, there was a little girl named Lily\./);
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage).toEqual({ prompt_tokens: 5, completion_tokens: 20, total_tokens: 25 });
    // token ids give the same text as the string they encode
    const byIds = await openai.completions.create({ ...GREEDY, prompt: [1, 403, 407, 261, 378] });
    expect(byIds.choices[0]!.text).toBe(r.choices[0]!.text);
  });

  it('streaming text equals the non-streaming text, with a final usage chunk', async () => {
    const whole = await openai.completions.create({ ...GREEDY, prompt: PROMPT, stop: ['Lily'] });
    const stream = await openai.completions.create({ ...GREEDY, prompt: PROMPT, stop: 'Lily', stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finishReason: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined | null;
    let numChunks = 0;
    for await (const chunk of stream) {
      numChunks++;
      if (chunk.choices.length === 0) usage = chunk.usage;
      for (const c of chunk.choices) {
        text += c.text;
        finishReason = c.finish_reason ?? finishReason;
      }
    }
    expect(numChunks).toBeGreaterThan(3);
    expect(text).toBe(whole.choices[0]!.text);
    expect(text).toBe(', there was a little girl named ');
    expect(finishReason).toBe('stop');
    expect(usage).toEqual(whole.usage);
  });

  it('n=2 with a seed: two different choices, reproducible', async () => {
    const request = { model: MODEL_NAME, prompt: PROMPT, max_tokens: 16, temperature: 1, seed: 7, n: 2 };
    const a = await openai.completions.create(request);
    const b = await openai.completions.create(request);
    expect(a.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(a.choices.map((c) => c.text)).toEqual(b.choices.map((c) => c.text));
    expect(a.choices[0]!.text).not.toBe(a.choices[1]!.text);
    expect(a.usage).toEqual({ prompt_tokens: 5, completion_tokens: 32, total_tokens: 37 });
  });

  it('logprobs: one entry per token with the top alternatives', async () => {
    const r = await openai.completions.create({ ...GREEDY, prompt: PROMPT, max_tokens: 5, logprobs: 3 });
    const lp = r.choices[0]!.logprobs!;
    expect(lp.tokens).toHaveLength(5);
    expect(lp.tokens!.join('')).toBe(r.choices[0]!.text);
    expect(lp.token_logprobs!.every((x) => x <= 0)).toBe(true);
    expect(lp.top_logprobs!.every((top) => Object.keys(top).length === 3)).toBe(true);
    // greedy: the chosen token is the most likely one
    lp.tokens!.forEach((tok, i) => expect(Math.max(...Object.values(lp.top_logprobs![i]!))).toBeCloseTo(lp.token_logprobs![i]!, 5));
    expect(lp.text_offset![0]).toBe(0);
  });
});

describe('POST /v1/chat/completions', () => {
  const messages: OpenAI.ChatCompletionMessageParam[] = [
    { role: 'system', content: 'You tell short stories.' },
    { role: 'user', content: 'Tell me about a cat.' },
  ];

  it('non-streaming and streaming give the same greedy message', async () => {
    const r = await openai.chat.completions.create({ model: MODEL_NAME, messages, temperature: 0, max_tokens: 16 });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0]!.message.role).toBe('assistant');
    expect(r.choices[0]!.message.content!.length).toBeGreaterThan(5);
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage!.completion_tokens).toBe(16);

    const stream = await openai.chat.completions.create({
      model: MODEL_NAME, messages, temperature: 0, max_tokens: 16, stream: true, stream_options: { include_usage: true },
    });
    let content = '';
    let role: string | undefined;
    let finishReason: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      if (chunk.choices.length === 0) usage = chunk.usage;
      for (const c of chunk.choices) {
        role ??= c.delta.role;
        content += c.delta.content ?? '';
        finishReason = c.finish_reason ?? finishReason;
      }
    }
    expect(role).toBe('assistant');
    expect(content).toBe(r.choices[0]!.message.content);
    expect(finishReason).toBe('length');
    expect(usage).toEqual(r.usage);
  });

  it('n=2 and logprobs with top_logprobs', async () => {
    const r = await openai.chat.completions.create({
      model: MODEL_NAME, messages, max_tokens: 6, temperature: 0.8, seed: 3, n: 2, logprobs: true, top_logprobs: 2,
    });
    expect(r.choices).toHaveLength(2);
    for (const c of r.choices) {
      const content = c.logprobs!.content!;
      expect(content).toHaveLength(6);
      expect(content.map((x) => x.token).join('')).toBe(c.message.content);
      for (const x of content) {
        expect(x.logprob).toBeLessThanOrEqual(0);
        expect(x.bytes).toEqual([...Buffer.from(x.token)]);
        expect(x.top_logprobs).toHaveLength(2);
      }
    }
  });
});

describe('GET endpoints', () => {
  it('/v1/models lists the model', async () => {
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual([MODEL_NAME]);
    expect(models.data[0]!.object).toBe('model');
  });

  it('/health answers 200', async () => {
    const r = await fetchJson(`${t.baseUrl}/health`);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('ok');
  });

  it('/metrics: the counters move and the engine gauges and prefix-cache counters are there', async () => {
    const before = await metricValue('peregrine:generation_tokens_total');
    await openai.completions.create({ ...GREEDY, prompt: PROMPT, max_tokens: 7 });
    const res = await fetch(`${t.baseUrl}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(await metricValue('peregrine:generation_tokens_total')).toBe(before + 7);
    for (const name of [
      'time_to_first_token_seconds_count', 'time_per_output_token_seconds_count', 'num_requests_waiting', 'num_requests_running',
      'kv_cache_usage_ratio', 'prompt_tokens_total', 'prefix_cache_queries_total', 'prefix_cache_hits_total',
    ]) {
      expect(text).toContain(`peregrine:${name}`);
    }
    expect(text).toMatch(/peregrine:request_success_total\{finished_reason="length",model_name="stories260K"\} \d+/);
    expect(await metricValue('peregrine:prefix_cache_queries_total')).toBeGreaterThan(0);
  });

  it("/metrics: vLLM's names (and ours for the same series) are there and move after requests", async () => {
    const HISTOGRAMS = [
      'time_to_first_token_seconds', 'time_per_output_token_seconds', 'inter_token_latency_seconds', 'e2e_request_latency_seconds',
      'request_queue_time_seconds', 'request_prefill_time_seconds', 'request_decode_time_seconds', 'request_prompt_tokens', 'request_generation_tokens',
    ];
    const COUNTERS = ['prompt_tokens_total', 'generation_tokens_total'];
    const read = async () => {
      const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
      const value = (series: string): number => {
        const line = text.split('\n').find((l) => l.startsWith(series + ' ') || l.startsWith(series + '{'));
        return line === undefined ? NaN : Number(line.split(' ').at(-1));
      };
      return { text, value };
    };
    const before = await read();
    await openai.completions.create({ ...GREEDY, prompt: PROMPT, max_tokens: 8 });
    const stream = await openai.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: PROMPT }], max_tokens: 5, stream: true, temperature: 0 });
    for await (const _ of stream) void _;
    const after = await read();
    for (const prefix of ['vllm:', 'peregrine:']) {
      for (const name of HISTOGRAMS) {
        const count = `${prefix}${name}_count`;
        expect(after.value(count), count).toBeGreaterThan(before.value(count));
        expect(after.value(`${prefix}${name}_sum`), name).toBeGreaterThan(0);
      }
      // two generations: 8 + the chat's (at most 5) tokens, counted once in each name
      const generated = after.value(`${prefix}generation_tokens_total`) - before.value(`${prefix}generation_tokens_total`);
      expect(generated).toBeGreaterThanOrEqual(9);
      expect(generated).toBeLessThanOrEqual(13);
      for (const name of COUNTERS) expect(after.value(`${prefix}${name}`), name).toBeGreaterThan(before.value(`${prefix}${name}`));
      expect(after.value(`${prefix}request_generation_tokens_sum`) - before.value(`${prefix}request_generation_tokens_sum`)).toBe(generated);
    }
    for (const name of ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc', 'vllm:num_preemptions_total', 'peregrine:num_preemptions_total']) {
      expect(after.value(name), name).toBeGreaterThanOrEqual(0);
    }
    expect(after.text).toMatch(/^vllm:request_success_total\{finished_reason="length",model_name="stories260K"\} [1-9]/m);
    expect(after.text).toMatch(/^vllm:time_to_first_token_seconds_bucket\{le="0.001",model_name="stories260K"\} /m);
    expect(after.text).toMatch(/^vllm:request_prompt_tokens_bucket\{le="500",model_name="stories260K"\} /m);
  });

  it('/metrics: kv_cache_usage_perc is the fraction of KV blocks in use while a request runs (0..1)', async () => {
    const kvUsage = async () => metricValue('vllm:kv_cache_usage_perc');
    const res = await fetch(`${t.baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: PROMPT, max_tokens: 400, ignore_eos: true, stream: true }),
    });
    const reader = res.body!.getReader();
    await reader.read();
    const during = await kvUsage();
    await reader.cancel();
    expect(during).toBeGreaterThan(0);
    expect(during).toBeLessThanOrEqual(1);
  });
});

describe('errors', () => {
  const badCompletions: [string, unknown, string | null][] = [
    ['body is an array', [1, 2], 'body'],
    ['missing prompt', { model: MODEL_NAME }, 'prompt'],
    ['empty prompt', { prompt: '' }, 'prompt'],
    ['prompt of the wrong type', { prompt: 42 }, 'prompt'],
    ['batched prompts', { prompt: ['a', 'b'] }, 'prompt'],
    ['temperature as a string', { prompt: 'x', temperature: 'hot' }, 'temperature'],
    ['temperature out of range', { prompt: 'x', temperature: 5 }, 'temperature'],
    ['top_p of 0', { prompt: 'x', top_p: 0 }, 'top_p'],
    ['negative max_tokens', { prompt: 'x', max_tokens: -1 }, 'max_tokens'],
    ['fractional max_tokens', { prompt: 'x', max_tokens: 1.5 }, 'max_tokens'],
    ['n of 0', { prompt: 'x', n: 0 }, 'n'],
    ['logprobs above 20', { prompt: 'x', logprobs: 21 }, 'logprobs'],
    ['stop of the wrong type', { prompt: 'x', stop: 3 }, 'stop'],
    ['negative seed', { prompt: 'x', seed: -1 }, 'seed'],
    ['stream as a string', { prompt: 'x', stream: 'yes' }, 'stream'],
    ['stream_options without stream', { prompt: 'x', stream_options: { include_usage: true } }, 'stream_options'],
    ['prompt beyond the context', { prompt: Array.from({ length: 600 }, () => 403) }, null],
    ['token id outside the vocabulary', { prompt: [1, 600] }, null],
  ];
  it.each(badCompletions)('completions: %s → 400', async (_, body, param) => {
    const r = await postJson(`${t.baseUrl}/v1/completions`, body);
    expect(r.status).toBe(400);
    expect(r.body.error.type).toBe('invalid_request_error');
    expect(r.body.error.param).toBe(param);
    expect(typeof r.body.error.message).toBe('string');
    expect(r.body.error).toHaveProperty('code');
  });

  const badChats: [string, unknown, string][] = [
    ['missing messages', { model: MODEL_NAME }, 'messages'],
    ['empty messages', { messages: [] }, 'messages'],
    ['a message that is not an object', { messages: ['hi'] }, 'messages[0]'],
    ['an unknown role', { messages: [{ role: 'wizard', content: 'hi' }] }, 'messages[0].role'],
    ['content of the wrong type', { messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
    ['an image part', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages[0].content[0].type'],
    ['top_logprobs without logprobs', { messages: [{ role: 'user', content: 'hi' }], top_logprobs: 2 }, 'top_logprobs'],
    ['logprobs as a number', { messages: [{ role: 'user', content: 'hi' }], logprobs: 2 }, 'logprobs'],
  ];
  it.each(badChats)('chat: %s → 400', async (_, body, param) => {
    const r = await postJson(`${t.baseUrl}/v1/chat/completions`, body);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param });
  });

  it('a prompt or a chat that cannot fit is refused before it is rendered or tokenized: 400 prompt_too_long', async () => {
    const bigPrompt = await postJson(`${t.baseUrl}/v1/completions`, { prompt: 'Once upon a time '.repeat(200_000), max_tokens: 1 });
    expect(bigPrompt.status).toBe(400);
    expect(bigPrompt.body.error).toMatchObject({ code: 'prompt_too_long' });
    const messages = Array.from({ length: 513 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: '' }));
    const manyMessages = await postJson(`${t.baseUrl}/v1/chat/completions`, { messages, max_tokens: 1 });
    expect(manyMessages.status).toBe(400);
    expect(manyMessages.body.error).toMatchObject({ code: 'prompt_too_long' });
    expect(manyMessages.body.error.message).toMatch(/513 messages cannot fit in a context of 512 tokens/);
  });

  it("a chat the model's template refuses (raise_exception) → 400 naming messages, code invalid_messages", async () => {
    const chatTemplate = ChatTemplate.fromSource("{{ raise_exception('roles must alternate') }}", engine.model.tokenizer);
    const refusing = await startTestServer(engine, undefined, { chatTemplate });
    try {
      for (const [path, body] of [
        ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }],
        ['/v1/responses', { input: 'hi' }],
      ] as const) {
        const r = await postJson(`${refusing.baseUrl}${path}`, body);
        expect(r.status, path).toBe(400);
        expect(r.body, path).toEqual({
          error: { message: 'the chat template failed: roles must alternate', type: 'invalid_request_error', param: 'messages', code: 'invalid_messages' },
        });
      }
    } finally {
      await refusing.close();
    }
  });

  it('invalid JSON and an empty body → 400', async () => {
    for (const text of ['{"prompt": ', '']) {
      const r = await postJson(`${t.baseUrl}/v1/completions`, text);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json', param: null });
    }
  });

  it('unknown route → 404, wrong method → 405, unknown model → 404', async () => {
    const notFound = await fetchJson(`${t.baseUrl}/v1/nothing`);
    expect(notFound.status).toBe(404);
    expect(notFound.body.error.type).toBe('invalid_request_error');
    const wrongMethod = await fetchJson(`${t.baseUrl}/v1/completions`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect(wrongMethod.body.error.code).toBe('method_not_allowed');
    const err = await openai.completions.create({ model: 'gpt-9', prompt: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).error).toMatchObject({ code: 'model_not_found', param: 'model' });
  });

  it('the OpenAI client sees a 400 as BadRequestError', async () => {
    const err = await openai.completions.create({ ...GREEDY, prompt: PROMPT, temperature: -1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
  });
});

describe('client abort', () => {
  it('a client that goes away mid-stream aborts its request, and the server goes on', async () => {
    const signals: AbortSignal[] = [];
    const spied = await startTestServer(
      engineWith((prompt, options) => {
        if (options?.signal) signals.push(options.signal);
        return engine.generate(prompt, options);
      }),
    );
    try {
      const controller = new AbortController();
      const stream = await spied.client().completions.create(
        { model: MODEL_NAME, prompt: PROMPT, max_tokens: 400, temperature: 0, stream: true, ignore_eos: true } as OpenAI.CompletionCreateParamsStreaming,
        { signal: controller.signal },
      );
      let numChunks = 0;
      try {
        for await (const _ of stream) if (++numChunks === 3) controller.abort();
      } catch {
        // the client reports its own abort
      }
      expect(numChunks).toBe(3);
      expect(signals).toHaveLength(1);
      for (let i = 0; i < 100 && !signals[0]!.aborted; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(signals[0]!.aborted).toBe(true);
      for (let i = 0; i < 100 && engine.stats().numRunning > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(engine.stats()).toMatchObject({ numRunning: 0, numWaiting: 0, kvCacheUsage: 0 }); // no KV block leaked
      const r = await spied.client().completions.create({ ...GREEDY, prompt: PROMPT });
      expect(r.choices[0]!.text).toMatch(/^, there was a little girl/);
      expect(signals[1]!.aborted).toBe(false);
    } finally {
      await spied.close();
    }
  });
});

describe('API key', () => {
  it('required on /v1 when set; /health stays open', async () => {
    const keyed = await startTestServer(engine, 'sekret');
    try {
      const ok = await keyed.client('sekret').completions.create({ ...GREEDY, prompt: PROMPT, max_tokens: 2 });
      expect(ok.choices).toHaveLength(1);
      const wrong = await keyed.client('nope').models.list().catch((e: unknown) => e);
      expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
      const missing = await postJson(`${keyed.baseUrl}/v1/completions`, { prompt: 'x' });
      expect(missing.status).toBe(401);
      expect(missing.body.error).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
      expect((await fetchJson(`${keyed.baseUrl}/health`)).status).toBe(200);
    } finally {
      await keyed.close();
    }
  });
});

/** The real engine with generate() replaced, to reach the failure paths. */
function engineWith(
  generate: (prompt: string | readonly number[], options?: GenerationOptions) => AsyncGenerator<GenerationChunk>,
  isQueueFull = false,
  deadReason: string | undefined = undefined,
): ServingEngine {
  return {
    model: engine.model,
    tokenizer: engine.tokenizer,
    contextSize: engine.contextSize,
    constraints: engine.constraints,
    generate,
    embed: (inputs, options) => engine.embed(inputs, options),
    isQueueFull: () => isQueueFull,
    deadReason,
    stats: () => engine.stats(),
    shutdown: async () => {},
  };
}

describe('engine failures', () => {
  it('/health answers 503 once the engine is dead (issue 23, finding 4: it said ok)', async () => {
    const dead = await startTestServer(
      engineWith(
        () => {
          throw new Error('unused');
        },
        false,
        'engine step failed: out of memory',
      ),
    );
    try {
      const r = await fetchJson(`${dead.baseUrl}/health`);
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ status: 'dead', error: { type: 'engine_dead', message: 'engine step failed: out of memory' } });
    } finally {
      await dead.close();
    }
  });

  it('queue full → 429', async () => {
    for (const isQueueFull of [true, false]) {
      const full = await startTestServer(
        engineWith(() => {
          throw new CapacityError('QUEUE_FULL', '256 requests are waiting');
        }, isQueueFull),
      );
      try {
        const r = await postJson(`${full.baseUrl}/v1/completions`, { prompt: 'x' });
        expect(r.status).toBe(429);
        expect(r.body.error).toMatchObject({ type: 'rate_limit_error', code: 'queue_full' });
      } finally {
        await full.close();
      }
    }
  });

  it('an unexpected error → 500 with a generic message; mid-stream → an SSE error event', async () => {
    const broken = await startTestServer(
      engineWith(async function* () {
        yield { text: 'Once', tokenIds: [5] };
        throw new Error('kernel exploded at 0xdeadbeef');
      }),
    );
    const originalError = console.error;
    console.error = () => {};
    try {
      const r = await postJson(`${broken.baseUrl}/v1/completions`, { prompt: 'x' });
      expect(r.status).toBe(500);
      expect(r.body.error.type).toBe('server_error');
      expect(r.body.error.message).not.toContain('deadbeef');
      expect(r.body.error.message).toContain(r.headers.get('x-request-id'));

      const res = await fetch(`${broken.baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], stream: true }),
      });
      expect(res.status).toBe(200);
      const events = (await res.text()).split('\n\n').filter(Boolean).map((e) => JSON.parse(e.replace(/^data: /, '')));
      expect(events.at(-2).choices[0].delta.content).toBe('Once');
      expect(events.at(-1).error).toMatchObject({ type: 'server_error' });
      expect((await fetchJson(`${broken.baseUrl}/health`)).status).toBe(200);
    } finally {
      console.error = originalError;
      await broken.close();
    }
  });
});

describe('shutdownGracefully', () => {
  it('stops accepting, lets the in-flight stream finish, then shuts the engine down', async () => {
    const own = await loadTestEngine();
    const s = await startTestServer(own);
    let isShutDown = false;
    const shutdown = own.shutdown.bind(own);
    own.shutdown = async () => {
      await shutdown();
      isShutDown = true;
    };
    const res = await fetch(`${s.baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: PROMPT, max_tokens: 60, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
    });
    const done = shutdownGracefully(s.server, own);
    await expect(fetch(`${s.baseUrl}/health`)).rejects.toThrow();
    const text = await res.text();
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(text).toContain('"completion_tokens":60');
    await done;
    expect(isShutDown).toBe(true);
  });
});
