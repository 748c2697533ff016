import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.js';

export const MAX_BODY_BYTES = 4 * 2 ** 20;

/** `application/json` or a structured `+json` type (`application/vnd.api+json`); parameters aside. */
const JSON_MEDIA_TYPE = /^application\/(?:[a-z0-9!#$&^_.-]+\+)?json$/;

/**
 * 415 unless the body is declared JSON: `application/json` or a `+json` type, with no charset or
 * UTF-8. A form, text/plain or no Content-Type at all is refused, which also refuses a browser's
 * simple cross-origin POST (those can only send the first three types, without a preflight).
 */
export function checkJsonContentType(req: IncomingMessage): void {
  const header = req.headers['content-type'];
  const [mediaType = '', ...params] = (header ?? '').split(';').map((s) => s.trim().toLowerCase());
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/^"(.*)"$/, '$1');
  if (JSON_MEDIA_TYPE.test(mediaType) && (charset === undefined || charset === 'utf-8' || charset === 'utf8')) return;
  const got = header === undefined ? 'none' : JSON.stringify(header.slice(0, 100));
  throw new HttpError(
    415,
    `Content-Type must be application/json (UTF-8); got ${got}`,
    'invalid_request_error',
    null,
    'unsupported_media_type',
  );
}

/**
 * The request body parsed as JSON; 413 past MAX_BODY_BYTES, 400 when it is not JSON. Aborting
 * `signal` stops the read with the signal's reason (the client went away, or the server is
 * shutting down); a client that disconnects mid-body gets a quiet 400 `client_disconnected`.
 */
export function readJsonBody(req: IncomingMessage, signal: AbortSignal): Promise<unknown> {
  const declaredBytes = Number(req.headers['content-length']);
  if (declaredBytes > MAX_BODY_BYTES) return Promise.reject(bodyTooLarge());
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let numBytes = 0;
    const stop = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
      req.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const fail = (err: unknown): void => {
      stop();
      reject(err);
    };
    const onData = (part: Buffer): void => {
      numBytes += part.length;
      if (numBytes > MAX_BODY_BYTES) fail(bodyTooLarge());
      else parts.push(part);
    };
    const onEnd = (): void => {
      stop();
      try {
        resolve(parseJson(Buffer.concat(parts).toString('utf8')));
      } catch (err) {
        reject(err);
      }
    };
    const onError = (): void =>
      fail(new HttpError(400, 'the client closed the connection before sending the whole body', 'invalid_request_error', null, 'client_disconnected'));
    const onClose = (): void => {
      if (!req.complete) onError();
    };
    const onAbort = (): void => fail(signal.reason);
    if (signal.aborted) return onAbort();
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('aborted', onError);
    req.once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function parseJson(text: string): unknown {
  if (text.trim() === '') throw new HttpError(400, 'request body is empty; expected a JSON object', 'invalid_request_error', null, 'invalid_json');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${(err as Error).message}`, 'invalid_request_error', null, 'invalid_json');
  }
}

function bodyTooLarge(): HttpError {
  // the rest of the body is not read: the connection closes after the answer
  return new HttpError(413, `request body exceeds ${MAX_BODY_BYTES} bytes`, 'invalid_request_error', null, 'body_too_large', { connection: 'close' });
}
