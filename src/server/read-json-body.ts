import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.js';

export const MAX_BODY_BYTES = 4 * 2 ** 20;

/** The request body parsed as JSON; 413 past MAX_BODY_BYTES, 400 when it is not JSON. */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  let numBytes = 0;
  for await (const part of req as AsyncIterable<Buffer>) {
    numBytes += part.length;
    if (numBytes > MAX_BODY_BYTES) {
      throw new HttpError(413, `request body exceeds ${MAX_BODY_BYTES} bytes`, 'invalid_request_error', null, 'body_too_large');
    }
    parts.push(part);
  }
  const text = Buffer.concat(parts).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'request body is empty; expected a JSON object', 'invalid_request_error', null, 'invalid_json');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${(err as Error).message}`, 'invalid_request_error', null, 'invalid_json');
  }
}
