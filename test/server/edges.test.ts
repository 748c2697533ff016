import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ServingEngine } from '../../src/engine/serving-engine.js';
import { createServer } from '../../src/server/server.js';
import { captureLogger, fetchJson, loadTestEngine, MODEL_NAME, postJson, startTestServer, type TestServer } from './helpers.js';

// issue 22, "the first five minutes": what a first client (a browser page, a llama.cpp tool, a
// client configured for another model name) runs into

let engine: ServingEngine;
let t: TestServer;
let openai: OpenAI;

beforeAll(async () => {
  engine = await loadTestEngine(); // a context of 512 tokens
  t = await startTestServer(engine);
  openai = t.client();
});
afterAll(async () => {
  await t.close();
  await engine.shutdown();
});

describe("llama-server's /tokenize and /detokenize (they were 404)", () => {
  it('tokenizes as llama-server: no BOS unless add_special, pieces with with_pieces', async () => {
    const plain = await postJson(`${t.baseUrl}/tokenize`, { content: 'Once upon a time' });
    expect(plain.status).toBe(200);
    expect(plain.body).toEqual({ tokens: [403, 407, 261, 378] });
    expect((await postJson(`${t.baseUrl}/tokenize`, { content: 'Once upon a time', add_special: true })).body).toEqual({ tokens: [1, 403, 407, 261, 378] });
    const pieces = await postJson(`${t.baseUrl}/tokenize`, { content: 'Once upon', add_special: true, with_pieces: true });
    expect(pieces.body).toEqual({ tokens: [{ id: 1, piece: '<s>' }, { id: 403, piece: ' Once' }, { id: 407, piece: ' upon' }] });
  });

  it('detokenizes, so that /tokenize output round-trips', async () => {
    const text = 'Once upon a time, there was a little girl named Lily.';
    const { body } = await postJson(`${t.baseUrl}/tokenize`, { content: text });
    const r = await postJson(`${t.baseUrl}/detokenize`, { tokens: body.tokens });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ content: text });
    expect((await postJson(`${t.baseUrl}/detokenize`, { tokens: [] })).body).toEqual({ content: '' });
  });

  it('answers bad bodies with a 400 naming the field', async () => {
    const cases: [string, unknown, string][] = [
      ['/tokenize', {}, 'content'],
      ['/tokenize', { content: 42 }, 'content'],
      ['/tokenize', { content: 'x', with_pieces: 'yes' }, 'with_pieces'],
      ['/detokenize', {}, 'tokens'],
      ['/detokenize', { tokens: 'abc' }, 'tokens'],
      ['/detokenize', { tokens: [1, 1.5] }, 'tokens[1]'],
      ['/detokenize', { tokens: [1, 512] }, 'tokens[1]'],
      ['/detokenize', { tokens: [-1] }, 'tokens[0]'],
      ['/detokenize', { tokens: new Array(513).fill(5) }, 'tokens'], // more than the context (decoded on the event loop)
    ];
    for (const [path, body, param] of cases) {
      const r = await postJson(`${t.baseUrl}${path}`, body);
      expect(r.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param });
    }
  });

  it('needs the API key when the server has one', async () => {
    const keyed = await startTestServer(engine, 'sk-edge');
    try {
      expect((await postJson(`${keyed.baseUrl}/tokenize`, { content: 'x' })).status).toBe(401);
      expect((await postJson(`${keyed.baseUrl}/detokenize`, { tokens: [] }, { authorization: 'Bearer sk-edge' })).status).toBe(200);
    } finally {
      await keyed.close();
    }
  });
});

describe('GET /v1/models/{id} (it was 404)', () => {
  it("answers the served model in OpenAI's shape, 404 model_not_found for another id", async () => {
    const model = await openai.models.retrieve(MODEL_NAME);
    expect(model).toMatchObject({ id: MODEL_NAME, object: 'model', owned_by: 'peregrine' });
    expect(model.created).toEqual(expect.any(Number));
    const err = await openai.models.retrieve('gpt-4o').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    expect((await fetchJson(`${t.baseUrl}/v1/models/%E0%A4%A`)).status).toBe(400);
  });
});

describe('model aliases (clients that send another model id got 404)', () => {
  it('serves requests naming an alias; responses and /v1/models put the main name first', async () => {
    const aliased = await startTestServer(engine, undefined, { modelAliases: ['gpt-3.5-turbo', 'org/tiny'] });
    try {
      const client = aliased.client();
      const r = await client.completions.create({ model: 'gpt-3.5-turbo', prompt: 'Once upon a time', max_tokens: 4, temperature: 0 });
      expect(r.model).toBe(MODEL_NAME); // as vLLM: responses name the first served name
      const chat = await client.chat.completions.create({ model: 'org/tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
      expect(chat.choices).toHaveLength(1);
      expect((await client.models.list()).data.map((m) => m.id)).toEqual([MODEL_NAME, 'gpt-3.5-turbo', 'org/tiny']);
      expect((await client.models.retrieve('org/tiny')).id).toBe('org/tiny'); // sent as org%2Ftiny
      expect((await fetchJson(`${aliased.baseUrl}/v1/models/org/tiny`)).body.id).toBe('org/tiny'); // and as it is
      const other = await postJson(`${aliased.baseUrl}/v1/completions`, { model: 'gpt-4', prompt: 'x', max_tokens: 1 });
      expect(other.status).toBe(404);
      expect(other.body.error.message).toBe(`The model 'gpt-4' does not exist; this server serves '${MODEL_NAME}' (also named 'gpt-3.5-turbo', 'org/tiny')`);
    } finally {
      await aliased.close();
    }
  });
});

describe('max_tokens beyond the context (it was silently cut; vLLM answers 400)', () => {
  it('completions: 400 naming max_tokens and the numbers; exactly the context is fine', async () => {
    const err = await openai.completions.create({ model: MODEL_NAME, prompt: 'Once upon a time', max_tokens: 510 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e.param).toBe('max_tokens');
    expect(e.code).toBe('context_length_exceeded');
    expect(e.message).toContain(
      "'max_tokens' is too large: 510. This model's maximum context length is 512 tokens and your request has 5 input tokens (510 > 512 - 5)",
    );
    // token ids are checked too, and n does not matter
    const byIds = await postJson(`${t.baseUrl}/v1/completions`, { prompt: [1, 403, 407, 261, 378], max_tokens: 508, n: 2 });
    expect(byIds.status).toBe(400);
    const fits = await openai.completions.create({ model: MODEL_NAME, prompt: 'Once upon a time', max_tokens: 507, temperature: 0, stop: '.' });
    expect(fits.choices[0]!.finish_reason).toBe('stop');
  });

  it('chat: 400 naming the field the client sent, max_completion_tokens or max_tokens', async () => {
    const messages = [{ role: 'user' as const, content: 'Tell me a story' }];
    for (const param of ['max_completion_tokens', 'max_tokens'] as const) {
      const r = await postJson(`${t.baseUrl}/v1/chat/completions`, { messages, [param]: 600 });
      expect(r.status, param).toBe(400);
      expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param, code: 'context_length_exceeded' });
      expect(r.body.error.message).toMatch(new RegExp(`^'${param}' is too large: 600\\. This model's maximum context length is 512 tokens and your request has \\d+ input tokens`));
    }
  });
});

describe('x-request-id (a client\'s was ignored)', () => {
  it("echoes a client's safe id, replaces an unsafe or overlong one with a fresh UUID", async () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    const idOf = async (id?: string): Promise<string | null> =>
      (await fetch(`${t.baseUrl}/health`, { headers: id === undefined ? {} : { 'x-request-id': id } })).headers.get('x-request-id');
    expect(await idOf('trace-42_a.b:c')).toBe('trace-42_a.b:c');
    expect(await idOf()).toMatch(uuid);
    expect(await idOf('has space')).toMatch(uuid);
    expect(await idOf('a"<script>')).toMatch(uuid);
    expect(await idOf('x'.repeat(129))).toMatch(uuid);
    expect(await idOf('x'.repeat(128))).toBe('x'.repeat(128));
  });

  it("names the client's id in the log line and the 500's message", async () => {
    const log = captureLogger();
    const broken = await startTestServer({
      ...engine,
      model: engine.model,
      tokenizer: engine.tokenizer,
      contextSize: engine.contextSize,
      isQueueFull: () => false,
      deadReason: undefined,
      stats: () => engine.stats(),
      shutdown: async () => {},
      generate: () => {
        throw new Error('kernel exploded');
      },
    }, undefined, { logger: log.logger });
    try {
      const r = await postJson(`${broken.baseUrl}/v1/completions`, { prompt: 'x' }, { 'x-request-id': 'trace-500' });
      expect(r.status).toBe(500);
      expect(r.headers.get('x-request-id')).toBe('trace-500');
      expect(r.body.error.message).toContain('trace-500');
      await vi.waitFor(() => expect(log.records.some((rec) => rec.msg === 'request')).toBe(true));
      const failure = log.records.find((rec) => rec.msg === 'request failed')!;
      expect(failure).toMatchObject({ level: 50, request_id: 'trace-500', err: { message: 'kernel exploded' } });
      expect(failure.err.stack).toMatch(/kernel exploded\n\s+at /);
      expect(log.records.find((rec) => rec.msg === 'request')).toMatchObject({ level: 50, request_id: 'trace-500', status: 500, error_code: 'internal_error' });
    } finally {
      await broken.close();
    }
  });
});

describe('CORS (a preflight got 405, so no browser page could call the server)', () => {
  const origin = 'https://app.example.com';
  const preflight = (baseUrl: string, path: string, from: string, headers = 'authorization, content-type') =>
    fetch(`${baseUrl}${path}`, {
      method: 'OPTIONS',
      headers: { origin: from, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
    });

  it('is off by default: no Access-Control headers, OPTIONS is 405', async () => {
    const res = await fetch(`${t.baseUrl}/v1/models`, { headers: { origin } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight(t.baseUrl, '/v1/completions', origin)).status).toBe(405);
  });

  it('answers an allowed origin\'s preflight before the API key check, and marks its responses', async () => {
    const cors = await startTestServer(engine, 'sk-cors', { corsOrigins: [origin, 'http://localhost:3000'] });
    try {
      // the OpenAI client sends its x-stainless-* headers too
      const res = await preflight(cors.baseUrl, '/v1/chat/completions', origin, 'Authorization, Content-Type, X-Stainless-OS');
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
      expect(res.headers.get('access-control-allow-methods')).toBe('POST, OPTIONS');
      expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type, x-stainless-os');
      expect(res.headers.get('vary')).toBe('Origin');
      expect((await preflight(cors.baseUrl, '/v1/models/anything', origin)).headers.get('access-control-allow-methods')).toBe('GET, OPTIONS');
      expect((await preflight(cors.baseUrl, '/nowhere', origin)).status).toBe(404);

      const actual = await fetch(`${cors.baseUrl}/v1/models`, { headers: { origin, authorization: 'Bearer sk-cors', 'x-request-id': 'page-1' } });
      expect(actual.status).toBe(200);
      expect(actual.headers.get('access-control-allow-origin')).toBe(origin);
      expect(actual.headers.get('access-control-expose-headers')).toBe('x-request-id');
      // errors too, so a page can read them
      const unauthorized = await fetch(`${cors.baseUrl}/v1/models`, { headers: { origin: 'http://localhost:3000' } });
      expect(unauthorized.status).toBe(401);
      expect(unauthorized.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');

      // another origin: no allow header, and its preflight is refused
      const other = await fetch(`${cors.baseUrl}/health`, { headers: { origin: 'https://evil.example' } });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
      expect((await preflight(cors.baseUrl, '/v1/completions', 'https://evil.example')).status).toBe(403);
    } finally {
      await cors.close();
    }
  });

  it('* allows any origin', async () => {
    const cors = await startTestServer(engine, undefined, { corsOrigins: ['*'] });
    try {
      const res = await preflight(cors.baseUrl, '/v1/completions', 'https://anywhere.example');
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      const r = await postJson(`${cors.baseUrl}/tokenize`, { content: 'hi' }, { origin: 'null' });
      expect(r.headers.get('access-control-allow-origin')).toBe('*');
    } finally {
      await cors.close();
    }
  });

  it('refuses an origin that is not * or scheme://host[:port]', () => {
    for (const bad of ['app.example.com', 'https://app.example.com/', 'https://app.example.com/path', 'ftp://x.example']) {
      expect(() => createServer(engine, { modelName: MODEL_NAME, corsOrigins: [bad] }), bad).toThrow(/CORS origin .* must be \* or scheme:\/\/host\[:port\]/);
    }
  });
});
