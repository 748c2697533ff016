import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GenerationChunk, GenerationOptions } from '../../src/engine/generation-options.js';
import type { ServingEngine } from '../../src/engine/serving-engine.js';
import { shutdownGracefully } from '../../src/server/graceful-shutdown.js';
import { captureLogger, fetchJson, loadTestEngine, postJson, startTestServer, type TestServer } from './helpers.js';

/**
 * Issue 23, findings 3, 8 and 9: slow clients, shutdown (drain deadline, a second signal),
 * Content-Type, `Connection: close`, n > 10 listeners, repetition_penalty's range.
 */

const PROMPT = 'Once upon a time';
const JSON_HEADERS = { 'content-type': 'application/json' };

let engine: ServingEngine;
let t: TestServer;

beforeAll(async () => {
  engine = await loadTestEngine();
  t = await startTestServer(engine);
});
afterAll(async () => {
  await t.close();
  await engine.shutdown();
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The promise's value, or 'timeout' once `ms` have passed: a hang fails the test quickly instead of at vitest's limit. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  for (const start = Date.now(); !condition(); await sleep(10)) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
  }
}

/** A raw TCP connection: what the server sent so far, and everything it sent once it closed the connection. */
interface RawConnection {
  readonly socket: Socket;
  received(): string;
  readonly closed: Promise<string>;
}

async function rawConnect(baseUrl: string): Promise<RawConnection> {
  const socket = connect(Number(new URL(baseUrl).port), '127.0.0.1');
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (data += d));
  socket.on('error', () => {}); // a reset by the server is one of the expected ends
  const closed = new Promise<string>((r) => socket.once('close', () => r(data)));
  await once(socket, 'connect');
  return { socket, received: () => data, closed };
}

/** A POST whose headers arrive whole and whose 1000-byte body then trickles in, a byte every 50 ms. */
async function trickleBody(baseUrl: string): Promise<RawConnection & { stop(): void }> {
  const c = await rawConnect(baseUrl);
  c.socket.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
  const timer = setInterval(() => c.socket.writable && c.socket.write(' '), 50);
  void c.closed.then(() => clearInterval(timer));
  return { ...c, stop: () => clearInterval(timer) };
}

/**
 * The connections that must not hold up a shutdown: an idle keep-alive one (after a /health), one
 * still sending its headers, and a POST whose body trickles in (given 150 ms to reach the handler).
 */
async function stalledConnections(baseUrl: string): Promise<{ idle: RawConnection; halfHeaders: RawConnection; trickled: RawConnection & { stop(): void } }> {
  const idle = await rawConnect(baseUrl);
  idle.socket.write(rawRequest('GET', '/health', {}));
  await until(() => idle.received().includes('"status":"ok"'));
  const halfHeaders = await rawConnect(baseUrl);
  halfHeaders.socket.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\n');
  const trickled = await trickleBody(baseUrl);
  await sleep(150);
  return { idle, halfHeaders, trickled };
}

function rawRequest(method: string, path: string, headers: Record<string, string>, body = ''): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: x', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** Reads an SSE response: `first()` waits for the first event, `rest()` for the end and returns the whole text. */
function sseReader(res: Response): { first(): Promise<void>; rest(): Promise<string> } {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const readUntil = async (isDone: () => boolean): Promise<void> => {
    while (!isDone()) {
      const { done, value } = await reader.read();
      if (done) return;
      text += decoder.decode(value, { stream: true });
    }
  };
  return {
    first: () => readUntil(() => text.includes('\n\n')),
    rest: async () => {
      await readUntil(() => false);
      return text;
    },
  };
}

function events(text: string): any[] {
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((e) => e.replace(/^data: /, ''))
    .map((e) => (e === '[DONE]' ? e : JSON.parse(e)));
}

/**
 * The real engine's model and tokenizer, with a generate that yields a token every 20 ms for as
 * long as its signal allows, then finishes with 'abort' as the engine does. shutdown() only records.
 */
function slowEngine(): ServingEngine & { readonly signals: AbortSignal[]; isShutDown: boolean } {
  const signals: AbortSignal[] = [];
  const slow = {
    model: engine.model,
    tokenizer: engine.tokenizer,
    contextSize: engine.contextSize,
    constraints: engine.constraints,
    signals,
    isShutDown: false,
    isQueueFull: () => false,
    deadReason: undefined,
    stats: () => engine.stats(),
    embed: (inputs: readonly (string | readonly number[])[]) => engine.embed(inputs),
    generate(_prompt: string | readonly number[], options?: GenerationOptions): AsyncGenerator<GenerationChunk> {
      const signal = options?.signal;
      if (signal) signals.push(signal);
      return (async function* () {
        for (let i = 0; ; i++) {
          if (signal?.aborted) {
            yield { text: '', tokenIds: [], finishReason: 'abort', usage: { promptTokens: 1, completionTokens: i } };
            return;
          }
          yield { text: ' tick', tokenIds: [5] };
          await sleep(20);
        }
      })();
    },
    async shutdown() {
      slow.isShutDown = true;
    },
  };
  return slow;
}

/** The shared engine behind a server of its own, with a shutdown that leaves the engine running for the other tests. */
function sharedEngine(): ServingEngine {
  return {
    model: engine.model,
    tokenizer: engine.tokenizer,
    contextSize: engine.contextSize,
    constraints: engine.constraints,
    generate: (prompt, options) => engine.generate(prompt, options),
    embed: (inputs, options) => engine.embed(inputs, options),
    isQueueFull: () => engine.isQueueFull(),
    get deadReason() {
      return engine.deadReason;
    },
    stats: () => engine.stats(),
    shutdown: async () => {},
  };
}

describe('slow clients', () => {
  it('a client that never finishes its headers gets 408 and its connection closed (headersTimeoutMs)', async () => {
    const s = await startTestServer(engine, undefined, { headersTimeoutMs: 200, requestTimeoutMs: 400 });
    try {
      const c = await rawConnect(s.baseUrl);
      c.socket.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: appl');
      expect(await within(c.closed, 3000)).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await s.close();
    }
  });

  it('a client that trickles its body gets 408 and its connection closed (requestTimeoutMs), and nothing is logged as a failure', async () => {
    const log = captureLogger();
    const s = await startTestServer(engine, undefined, { headersTimeoutMs: 200, requestTimeoutMs: 400, logger: log.logger });
    try {
      const c = await trickleBody(s.baseUrl);
      const answer = await within(c.closed, 3000);
      c.stop();
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      await sleep(50);
      expect(log.records.filter((r) => r.level >= 50)).toEqual([]);
    } finally {
      await s.close();
    }
  });
});

describe('shutdownGracefully', () => {
  it('does not wait for connections with no request running: idle keep-alive, half-sent headers, a trickled body (503)', async () => {
    const own = sharedEngine();
    const s = await startTestServer(own); // the default timeouts: 10 s for headers, 60 s for a request
    const { idle, halfHeaders, trickled } = await stalledConnections(s.baseUrl);
    try {
      const startedAt = performance.now();
      const result = await within(shutdownGracefully(s.server, own, { drainTimeoutMs: 60_000 }), 3000);
      expect(result).toEqual({ drainEnd: 'drained', numAborted: 0 });
      expect(performance.now() - startedAt).toBeLessThan(1000);
      const refused = await within(trickled.closed, 1000);
      expect(refused).toMatch(/^HTTP\/1\.1 503 /);
      expect(refused).toMatch(/\r\nconnection: close\r\n/i);
      expect(refused).toContain('"code":"server_shutting_down"');
      expect(await within(idle.closed, 1000)).not.toBe('timeout');
      expect(await within(halfHeaders.closed, 1000)).not.toBe('timeout');
    } finally {
      trickled.stop();
      await s.close();
    }
  });

  it('at the drain deadline, running requests are aborted: a stream ends with an error event, a plain request gets 503', async () => {
    const slow = slowEngine();
    const s = await startTestServer(slow);
    try {
      const streamed = await fetch(`${s.baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], stream: true }),
      });
      expect(streamed.status).toBe(200);
      const sse = sseReader(streamed);
      await sse.first();
      const plain = postJson(`${s.baseUrl}/v1/completions`, { prompt: PROMPT });
      await until(() => slow.signals.length === 2);

      const startedAt = performance.now();
      const result = await within(shutdownGracefully(s.server, slow, { drainTimeoutMs: 300 }), 3000);
      expect(result).toEqual({ drainEnd: 'deadline', numAborted: 2 });
      expect(performance.now() - startedAt).toBeGreaterThanOrEqual(290);
      expect(slow.isShutDown).toBe(true);
      expect(slow.signals.every((signal) => signal.aborted)).toBe(true);

      const streamEvents = events(await sse.rest());
      expect(streamEvents.at(-2).choices[0].delta.content).toBe(' tick');
      expect(streamEvents.at(-1).error).toMatchObject({ type: 'server_error', code: 'server_shutting_down' });
      expect(streamEvents).not.toContain('[DONE]');
      const r = await plain;
      expect(r.status).toBe(503);
      expect(r.body.error).toMatchObject({ type: 'server_error', code: 'server_shutting_down' });
    } finally {
      await s.close();
    }
  });

  it('aborting its signal (a second SIGTERM) aborts running requests at once', async () => {
    const slow = slowEngine();
    const s = await startTestServer(slow);
    try {
      const streamed = await fetch(`${s.baseUrl}/v1/completions`, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: JSON.stringify({ prompt: PROMPT, stream: true }),
      });
      const sse = sseReader(streamed);
      await sse.first();
      const stopNow = new AbortController();
      const done = shutdownGracefully(s.server, slow, { drainTimeoutMs: 60_000, signal: stopNow.signal });
      await sleep(100);
      expect(slow.signals[0]!.aborted).toBe(false); // still draining
      stopNow.abort();
      expect(await within(done, 2000)).toEqual({ drainEnd: 'aborted', numAborted: 1 });
      const streamEvents = events(await sse.rest());
      expect(streamEvents.at(-1).error).toMatchObject({ code: 'server_shutting_down' });
      expect(streamEvents.at(-1).error.message).toMatch(/told to stop now/);
    } finally {
      await s.close();
    }
  });

  it('with the real engine: an aborted stream frees its KV blocks and the engine shuts down', async () => {
    const own = await loadTestEngine();
    const s = await startTestServer(own);
    try {
      const streamed = await fetch(`${s.baseUrl}/v1/completions`, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: JSON.stringify({ prompt: PROMPT, max_tokens: 400, ignore_eos: true, temperature: 0, stream: true }),
      });
      const sse = sseReader(streamed);
      await sse.first();
      expect(await within(shutdownGracefully(s.server, own, { drainTimeoutMs: 0 }), 3000)).toEqual({ drainEnd: 'deadline', numAborted: 1 });
      const streamEvents = events(await sse.rest());
      expect(streamEvents.at(-1).error).toMatchObject({ code: 'server_shutting_down' });
      expect(streamEvents.slice(0, -1).every((e) => e.choices[0].finish_reason === null)).toBe(true);
      expect(own.stats()).toMatchObject({ numRunning: 0, numWaiting: 0, kvCacheUsage: 0 });
    } finally {
      await s.close();
    }
  });
});

describe('Content-Type', () => {
  const body = JSON.stringify({ prompt: PROMPT, max_tokens: 1 });
  const refused: [string, Record<string, string>][] = [
    ['text/plain', { 'content-type': 'text/plain' }],
    ['a form', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['multipart', { 'content-type': 'multipart/form-data; boundary=x' }],
    ['a JSON-looking type', { 'content-type': 'application/jsonx' }],
    ['a charset other than UTF-8', { 'content-type': 'application/json; charset=latin1' }],
  ];
  it.each(refused)('%s → 415 unsupported_media_type', async (_, headers) => {
    const r = await fetchJson(`${t.baseUrl}/v1/completions`, { method: 'POST', headers, body });
    expect(r.status).toBe(415);
    expect(r.body.error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_media_type', param: null });
  });

  it('no Content-Type at all → 415, on chat too', async () => {
    const bytes = new TextEncoder().encode(body); // fetch sends no type for bytes
    expect((await fetchJson(`${t.baseUrl}/v1/completions`, { method: 'POST', body: bytes })).status).toBe(415);
    const chat = new TextEncoder().encode(JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }));
    expect((await fetchJson(`${t.baseUrl}/v1/chat/completions`, { method: 'POST', body: chat })).status).toBe(415);
  });

  it.each(['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"', 'application/vnd.api+json'])(
    '%s is accepted',
    async (type) => {
      const r = await fetchJson(`${t.baseUrl}/v1/completions`, { method: 'POST', headers: { 'content-type': type }, body });
      expect(r.status).toBe(200);
    },
  );
});

describe('Connection: close from the client', () => {
  it.each([false, true])('is honoured (stream: %s): the answer says close and the server closes the connection', async (stream) => {
    const c = await rawConnect(t.baseUrl);
    c.socket.write(rawRequest('POST', '/v1/completions', { 'Content-Type': 'application/json', Connection: 'close' }, JSON.stringify({ prompt: PROMPT, max_tokens: 3, stream })));
    const answer = await within(c.closed, 5000);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const head = (answer as string).slice(0, (answer as string).indexOf('\r\n\r\n'));
    expect(head).toMatch(/\r\nconnection: close/i);
    expect(head).not.toMatch(/keep-alive/i);
  });
});

describe('n > 10', () => {
  it('no MaxListenersExceededWarning: each choice has a signal of its own', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const r = await postJson(`${t.baseUrl}/v1/completions`, { prompt: PROMPT, n: 16, max_tokens: 3, temperature: 1, seed: 1 });
      expect(r.status).toBe(200);
      expect(r.body.choices).toHaveLength(16);
      const streamed = await fetch(`${t.baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], n: 16, max_tokens: 3, stream: true }),
      });
      expect(await streamed.text()).toContain('[DONE]');
      await sleep(20); // warnings are emitted on a later tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message)).toEqual([]);
  });
});

describe('repetition_penalty', () => {
  it.each([1e-300, 0, 0.001, 2.5, -1])('%s → 400', async (value) => {
    const r = await postJson(`${t.baseUrl}/v1/completions`, { prompt: PROMPT, max_tokens: 2, repetition_penalty: value });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param: 'repetition_penalty' });
  });

  it.each([0.01, 1.3, 2])('%s is accepted', async (value) => {
    const r = await postJson(`${t.baseUrl}/v1/completions`, { prompt: PROMPT, max_tokens: 2, temperature: 1, seed: 1, repetition_penalty: value });
    expect(r.status).toBe(200);
  });
});

// `peregrine serve` as a process: runs the built CLI (npm test builds first)
describe('peregrine serve: signals and --drain-timeout', () => {
  const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  async function startServe(...args: string[]): Promise<{ child: ChildProcess; url: string; stderr(): string; exited: Promise<number | null> }> {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--threads', '1', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await until(() => /on http:\/\/\S+\/v1/.test(stderr) || child.exitCode !== null, 30_000);
    const url = /on (http:\/\/\S+)\/v1/.exec(stderr)?.[1];
    if (!url) throw new Error(`serve did not start: ${stderr}`);
    return { child, url, stderr: () => stderr, exited };
  }

  function startLongStream(url: string): Promise<Response> {
    return fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: JSON_HEADERS,
      // 16 choices of 500 tokens: seconds of work, far longer than the test needs
      body: JSON.stringify({ prompt: PROMPT, max_tokens: 500, n: 16, ignore_eos: true, temperature: 1, seed: 1, stream: true }),
    });
  }

  it('SIGTERM exits at once when the only connections are idle, half-sent or trickling', async () => {
    const p = await startServe();
    const { trickled } = await stalledConnections(p.url);
    try {
      p.child.kill('SIGTERM');
      expect(await within(p.exited, 5000)).toBe(0);
      expect(p.stderr()).toMatch(/ INFO  SIGTERM: finishing in-flight requests \(at most 30 s[^\n]*\n(?:.*\n)*\S+ INFO  stopped\n$/);
    } finally {
      trickled.stop();
    }
  });

  it('a second SIGTERM aborts a running stream with an error event, logs it and exits', async () => {
    const p = await startServe();
    const res = await startLongStream(p.url);
    const sse = sseReader(res);
    await sse.first();
    p.child.kill('SIGTERM');
    await until(() => p.stderr().includes('finishing in-flight requests'));
    p.child.kill('SIGTERM');
    const streamEvents = events(await sse.rest());
    expect(streamEvents.at(-1).error).toMatchObject({ type: 'server_error', code: 'server_shutting_down' });
    expect(streamEvents).not.toContain('[DONE]');
    expect(await within(p.exited, 5000)).toBe(0);
    expect(p.stderr()).toMatch(/ WARN  SIGTERM again: aborting in-flight requests\n(?:.*\n)*\S+ INFO  stopped; aborted 1 in-flight request\n$/);
  });

  it('--drain-timeout 0: the first SIGTERM aborts running streams right away', async () => {
    const p = await startServe('--drain-timeout', '0');
    const res = await startLongStream(p.url);
    const sse = sseReader(res);
    await sse.first();
    p.child.kill('SIGTERM');
    const streamEvents = events(await sse.rest());
    expect(streamEvents.at(-1).error).toMatchObject({ code: 'server_shutting_down' });
    expect(await within(p.exited, 5000)).toBe(0);
    expect(p.stderr()).toMatch(/ WARN  drain deadline of 0 s passed\n(?:.*\n)*\S+ INFO  stopped; aborted 1 in-flight request\n$/);
  });

  it('--drain-timeout must be a number of seconds >= 0 (exit 2, before the model loads)', () => {
    for (const value of ['-1', 'soon']) {
      const r = spawnSync(process.execPath, [CLI, 'serve', `--drain-timeout=${value}`], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, value).toBe(2);
      expect(r.stderr).toMatch(/peregrine: error \[INVALID_ARGUMENT\]: --drain-timeout must be/);
    }
  });
});
