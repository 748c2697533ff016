import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ServingEngine } from '../../src/engine/serving-engine.js';
import { createLogger } from '../../src/server/logging/logger.js';
import { formatLogLine } from '../../src/server/logging/text-log-format.js';
import { captureLogger, fetchJson, loadTestEngine, MODEL_NAME, postJson, startTestServer, type TestServer } from './helpers.js';

let engine: ServingEngine;
let t: TestServer;
const log = captureLogger('info');

beforeAll(async () => {
  engine = await loadTestEngine();
  t = await startTestServer(engine, undefined, { logger: log.logger });
});
afterAll(async () => {
  await t.close();
  await engine.shutdown();
});

/** the request line of `requestId` (written when the response ends, which may be just after the client has it) */
async function requestLine(requestId: string): Promise<Record<string, any>> {
  return vi.waitFor(() => {
    const found = log.records.filter((r) => r.msg === 'request' && r.request_id === requestId);
    expect(found).toHaveLength(1);
    return found[0]!;
  });
}

describe('request log: one line per request when it ends', () => {
  it('a completion: the client x-request-id, method, route, status, tokens, TTFT and duration at info', async () => {
    const started = performance.now();
    const r = await postJson(`${t.baseUrl}/v1/completions`, { model: MODEL_NAME, prompt: 'Once upon a time', max_tokens: 9, temperature: 0 }, { 'x-request-id': 'req-completion-1' });
    const elapsedMs = performance.now() - started;
    expect(r.status).toBe(200);
    const line = await requestLine('req-completion-1');
    expect(line).toMatchObject({
      level: 30,
      request_id: 'req-completion-1',
      method: 'POST',
      route: '/v1/completions',
      status: 200,
      prompt_tokens: r.body.usage.prompt_tokens,
      completion_tokens: 9,
    });
    expect(line.ttft_ms).toBeGreaterThan(0);
    expect(line.duration_ms).toBeGreaterThanOrEqual(line.ttft_ms);
    expect(line.duration_ms).toBeLessThanOrEqual(elapsedMs + 5);
    expect(line.aborted).toBeUndefined();
    expect(line.error_code).toBeUndefined();
    expect(typeof line.time).toBe('string');
  });

  it('a streaming chat with n=2: tokens summed over the choices', async () => {
    const res = await fetch(`${t.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-chat-stream' },
      body: JSON.stringify({
        messages: [{ role: 'user', content: 'Once upon a time' }],
        max_tokens: 6,
        n: 2,
        ignore_eos: true,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
    const usage = events.at(-1).usage;
    expect(usage.completion_tokens).toBe(12);
    const line = await requestLine('req-chat-stream');
    expect(line).toMatchObject({ level: 30, route: '/v1/chat/completions', status: 200, prompt_tokens: usage.prompt_tokens, completion_tokens: 12 });
    expect(line.ttft_ms).toBeGreaterThan(0);
  });

  it('embeddings: the prompt tokens of every input, no completion tokens', async () => {
    const r = await postJson(`${t.baseUrl}/v1/embeddings`, { model: MODEL_NAME, input: ['Once upon a time', 'the end'] }, { 'x-request-id': 'req-embed' });
    expect(r.status).toBe(200);
    expect(r.body.usage.prompt_tokens).toBeGreaterThan(4);
    const line = await requestLine('req-embed');
    expect(line).toMatchObject({ level: 30, route: '/v1/embeddings', status: 200, prompt_tokens: r.body.usage.prompt_tokens, completion_tokens: 0 });
  });

  it('a 400 at warn with its error code; a request without an id gets the one its response header names', async () => {
    const r = await postJson(`${t.baseUrl}/v1/chat/completions`, { messages: [], max_tokens: 5 });
    expect(r.status).toBe(400);
    const line = await requestLine(r.headers.get('x-request-id')!);
    expect(line).toMatchObject({ level: 40, method: 'POST', route: '/v1/chat/completions', status: 400, error_code: 'invalid_value', prompt_tokens: 0, completion_tokens: 0 });
    expect(line.ttft_ms).toBeUndefined();
  });

  it('a 404 at warn, naming the path that has no route', async () => {
    const r = await fetchJson(`${t.baseUrl}/v1/nowhere`, { headers: { 'x-request-id': 'req-404' } });
    expect(r.status).toBe(404);
    expect(await requestLine('req-404')).toMatchObject({ level: 40, method: 'GET', route: '/v1/nowhere', status: 404, error_code: 'not_found' });
  });

  it('a request target new URL() cannot parse is logged as sent, and the server goes on', async () => {
    const socket = connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
    socket.write('GET //:99999 HTTP/1.1\r\nHost: x\r\nx-request-id: req-odd-target\r\nConnection: close\r\n\r\n');
    socket.resume();
    await once(socket, 'close');
    expect(await requestLine('req-odd-target')).toMatchObject({ method: 'GET', route: '//:99999' });
    expect((await fetchJson(`${t.baseUrl}/health`)).status).toBe(200);
  });

  it('a route with a path parameter is logged by its pattern', async () => {
    await fetchJson(`${t.baseUrl}/v1/models/${MODEL_NAME}`, { headers: { 'x-request-id': 'req-model' } });
    expect(await requestLine('req-model')).toMatchObject({ level: 30, method: 'GET', route: '/v1/models/{model}', status: 200 });
  });

  it("a client that goes away mid-stream: aborted 'client', the tokens generated until then", async () => {
    const controller = new AbortController();
    const res = await fetch(`${t.baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-abort' },
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 400, ignore_eos: true, stream: true }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    const line = await requestLine('req-abort');
    expect(line).toMatchObject({ level: 30, status: 200, aborted: 'client' });
    expect(line.completion_tokens).toBeLessThan(400);
  });
});

describe('log format and level', () => {
  it('text: TIME LEVEL msg key=value..., values quoted only when they need it, an error with its stack', () => {
    const line = formatLogLine(
      JSON.stringify({ level: 40, time: '2026-12-07T11:00:00.000Z', msg: 'request', request_id: 'abc', route: '/v1/chat/completions', status: 400, note: 'two words' }),
    );
    expect(line).toBe('2026-12-07T11:00:00.000Z WARN  request request_id=abc route=/v1/chat/completions status=400 note="two words"\n');
    const err = formatLogLine(JSON.stringify({ level: 50, time: 'T', msg: 'request failed', err: { message: 'boom', stack: 'Error: boom\n    at f (x.js:1:1)' } }));
    expect(err).toBe('T ERROR request failed\nError: boom\n    at f (x.js:1:1)\n');
    expect(formatLogLine('not json')).toBe('not json\n');
  });

  it('--log-level filters, --log-format json writes pino lines, text writes one readable line', () => {
    const lines: string[] = [];
    const destination = { write: (s: string) => lines.push(s) };
    const json = createLogger({ level: 'warn', format: 'json', destination });
    json.info('hidden');
    json.warn({ request_id: 'x' }, 'shown');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, msg: 'shown', request_id: 'x' });
    lines.length = 0;
    createLogger({ level: 'debug', format: 'text', destination }).debug({ n: 1 }, 'hello');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z DEBUG hello n=1\n$/);
    lines.length = 0;
    createLogger({ level: 'silent', destination }).error('nothing');
    expect(lines).toEqual([]);
  });
});
