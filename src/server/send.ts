import type { ServerResponse } from 'node:http';
import { HttpError } from './http-error.js';
import type { RequestContext } from './route.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * A request's non-streaming 200 response. Its size is bounded by the request (n, max_tokens,
 * logprobs) and written at once; what the socket does not take waits in node's buffer. A client
 * that leaves it there `ctx.unreadResponseTimeoutMs` after the write has its connection closed,
 * so a non-reader holds the memory for a bounded time, with one log line.
 */
export function sendResult(ctx: RequestContext, body: unknown): void {
  const { res } = ctx;
  sendJson(res, 200, body);
  if (res.writableFinished) return;
  const timer = setTimeout(() => {
    if (res.writableFinished || res.destroyed) return;
    ctx.logger.warn(
      `its client left ${res.writableLength} bytes of the response unread for ${ctx.unreadResponseTimeoutMs} ms; connection closed`,
    );
    res.destroy();
  }, ctx.unreadResponseTimeoutMs).unref();
  res.once('close', () => clearTimeout(timer));
}

/**
 * Server-sent events in OpenAI's shape: `data: {...}\n\n` per event, `data: [DONE]` at the end.
 * No `connection` header: node answers keep-alive or close as the client asked (a `connection:
 * keep-alive` set here would override a client's `Connection: close`).
 */
export function startEventStream(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
}

/** One event; `eventName` adds an `event:` line (the Responses API names its events). */
export function sendEvent(res: ServerResponse, data: unknown, eventName?: string): void {
  if (!res.writableEnded && !res.destroyed) res.write(`${eventName === undefined ? '' : `event: ${eventName}\n`}data: ${JSON.stringify(data)}\n\n`);
}

/** once a stream is cut for not being read, how long its last bytes (the error event) get to reach the client before the connection is closed */
export const UNREAD_STREAM_CLOSE_MS = 10_000;

/**
 * Sends one event of a request's stream, with backpressure. The engine does not wait for a slow
 * reader (one client must not stall the batch) and its per-request queue is unbounded, so pausing
 * here would only move the pile-up there; instead the output is written as it comes, and what the
 * client has not read yet is counted where it waits: node's and the socket's buffers (`res.writableLength`).
 * Once that passes `ctx.maxUnreadBytes`, the request is aborted with a `client_not_reading` HttpError:
 * its generations stop and free their KV blocks, the stream gets that error event and ends, and the
 * connection is closed if the client still has not read it UNREAD_STREAM_CLOSE_MS later. Buffered
 * output stays under the bound plus the event that passed it and the error event; later events are dropped.
 */
export function sendStreamEvent(ctx: RequestContext, data: unknown, eventName?: string): void {
  const { res } = ctx;
  if (ctx.signal.aborted) return;
  sendEvent(res, data, eventName);
  const numUnread = res.writableLength;
  if (numUnread <= ctx.maxUnreadBytes) return;
  ctx.logger.warn(`aborted: its client left ${numUnread} bytes of the stream unread (limit ${ctx.maxUnreadBytes}); its generations were cancelled`);
  ctx.abort(
    new HttpError(
      408,
      `the stream was aborted because the client did not read it: ${numUnread} bytes were waiting (limit ${ctx.maxUnreadBytes})`,
      'invalid_request_error',
      null,
      'client_not_reading',
    ),
  );
  setTimeout(() => {
    if (!res.writableFinished) res.destroy();
  }, UNREAD_STREAM_CLOSE_MS).unref();
}

export function endEventStream(res: ServerResponse): void {
  if (!res.writableEnded && !res.destroyed) res.end('data: [DONE]\n\n');
}
