import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServingEngine } from '../../src/engine/serving-engine.js';
import { captureLogger, loadTestEngine, MODEL_NAME, startTestServer, type TestServer } from './helpers.js';

/**
 * Issue 23, finding 5: clients that never read their streams (n=16, logprobs=20) made the server
 * buffer their whole output (4 of them: RSS 68 -> 283 MB, held afterwards). Now a stream whose
 * unread bytes pass `maxUnreadBytes` is aborted: its generations stop and free their KV blocks,
 * and node never holds more than the bound plus one event for it.
 */

const MAX_UNREAD_BYTES = 64 * 1024;
const UNREAD_RESPONSE_TIMEOUT_MS = 1000;

let engine: ServingEngine;
let t: TestServer;
const log = captureLogger('warn');
/** the server's warning messages logged since record `start` (one per cut-off client, besides its request line) */
const warningsFrom = (start: number) => ({
  get messages(): string[] {
    return log.records.slice(start).filter((r) => r.level === 40 && r.msg !== 'request').map((r) => String(r.msg));
  },
});
/** per response: the most bytes it held unread after a write, and its largest single write */
const observed: { maxUnread: number; maxWrite: number }[] = [];

beforeAll(async () => {
  engine = await loadTestEngine();
  t = await startTestServer(engine, undefined, { maxUnreadBytes: MAX_UNREAD_BYTES, unreadResponseTimeoutMs: UNREAD_RESPONSE_TIMEOUT_MS, logger: log.logger });
  // watches every response's buffer from outside the server: after each write, what the client has not read
  t.server.prependListener('request', (_req, res: ServerResponse) => {
    const seen = { maxUnread: 0, maxWrite: 0 };
    observed.push(seen);
    const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      const isWritten = write(chunk, ...rest);
      seen.maxUnread = Math.max(seen.maxUnread, res.writableLength);
      if (typeof chunk === 'string') seen.maxWrite = Math.max(seen.maxWrite, Buffer.byteLength(chunk));
      return isWritten;
    }) as typeof res.write;
  });
});
afterAll(async () => {
  await t.close();
  await engine.shutdown();
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(condition: () => boolean, ms: number): Promise<void> {
  for (const start = Date.now(); !condition(); await sleep(20)) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
  }
}

/** Sends a streaming POST over a raw socket that then reads nothing until told to. */
async function nonReadingClient(path: string, body: object): Promise<{ socket: Socket; readAll(untilText: string): Promise<string> }> {
  const socket = connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.pause();
  const json = JSON.stringify(body);
  socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
  return {
    socket,
    readAll: async (untilText) => {
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (text += d));
      socket.resume();
      await until(() => text.includes(untilText) || socket.destroyed, 10_000);
      return text;
    },
  };
}

const isIdle = (): boolean => {
  const stats = engine.stats();
  return stats.numRunning === 0 && stats.numWaiting === 0 && stats.kvCacheUsage === 0;
};

describe('backpressure: a client that does not read its stream', () => {
  it.each([
    ['/v1/completions', { prompt: 'Once upon a time' }],
    ['/v1/chat/completions', { messages: [{ role: 'user', content: 'Once upon a time' }], logprobs: true }],
  ])('%s with n=16 and logprobs=20 is aborted once its unread output passes maxUnreadBytes; its KV blocks are freed', async (path, fields) => {
    const warn = warningsFrom(log.records.length);
    const numObserved = observed.length;
    const body = path === '/v1/completions' ? { ...fields, logprobs: 20 } : { ...fields, top_logprobs: 20 };
    const client = await nonReadingClient(path, { model: MODEL_NAME, ...body, n: 16, max_tokens: 450, ignore_eos: true, stream: true });
    await until(() => warn.messages.some((m) => m.includes('unread')), 30_000);
    await until(isIdle, 5000);
    const seen = observed[numObserved]!;
    expect(seen.maxWrite).toBeGreaterThan(0);
    expect(seen.maxUnread).toBeGreaterThan(MAX_UNREAD_BYTES);
    // the bound, plus the event that passed it, the error event and chunked framing
    expect(seen.maxUnread).toBeLessThanOrEqual(MAX_UNREAD_BYTES + seen.maxWrite + 512);
    expect(warn.messages.filter((m) => m.includes('unread'))).toHaveLength(1);
    // reading now, the client gets what was buffered, then the error event, and no [DONE]
    const text = await client.readAll('client_not_reading');
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text).toContain('"code":"client_not_reading"');
    expect(text).not.toContain('[DONE]');
    client.socket.destroy();
  });

  it('a client that reads gets the whole stream under the same bound', async () => {
    const res = await fetch(`${t.baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL_NAME, prompt: 'Once upon a time', n: 4, logprobs: 5, max_tokens: 64, ignore_eos: true, stream: true }),
    });
    const text = await res.text();
    expect(text).toContain('data: [DONE]');
    expect(text).not.toContain('client_not_reading');
    await until(isIdle, 5000);
  });
});

describe('backpressure: a client that does not read its non-streaming response', () => {
  it('is cut off unreadResponseTimeoutMs after the response was written, with one log line; the engine is idle', async () => {
    const warn = warningsFrom(log.records.length);
    // 16 choices x 450 tokens x 20 alternatives with their bytes: megabytes, more than the loopback socket holds
    const body = { model: MODEL_NAME, messages: [{ role: 'user', content: 'Once upon a time' }], logprobs: true, top_logprobs: 20, n: 16, max_tokens: 450, ignore_eos: true };
    const client = await nonReadingClient('/v1/chat/completions', body);
    await until(() => warn.messages.some((m) => m.includes('of the response unread')), 60_000);
    // reading now, the client finds the connection closed before the end of the body
    let text = '';
    client.socket.setEncoding('utf8');
    client.socket.on('data', (d: string) => (text += d));
    const closed = once(client.socket, 'close');
    client.socket.resume();
    await closed;
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text).not.toContain('"usage"');
    expect(warn.messages.filter((m) => m.includes('of the response unread'))).toHaveLength(1);
    await until(isIdle, 5000);
  }, 90_000);

  it('a client that reads its response within the timeout gets all of it', async () => {
    const body = { model: MODEL_NAME, messages: [{ role: 'user', content: 'Once upon a time' }], logprobs: true, top_logprobs: 20, n: 4, max_tokens: 200, ignore_eos: true };
    const client = await nonReadingClient('/v1/chat/completions', body);
    await sleep(UNREAD_RESPONSE_TIMEOUT_MS / 2);
    const text = await client.readAll('"usage"');
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text).toContain('"usage"');
    client.socket.destroy();
  }, 60_000);
});
