import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** the longest client x-request-id kept (vLLM and most proxies use UUIDs, 36 characters) */
export const MAX_REQUEST_ID_LENGTH = 128;

/** letters, digits and `-_.:@+=/`: safe in a header, a log line and a JSON string as they are */
const SAFE_REQUEST_ID = new RegExp(`^[A-Za-z0-9._:@+=/-]{1,${MAX_REQUEST_ID_LENGTH}}$`);

/**
 * The request's id: the client's `x-request-id` when it is one of 1..MAX_REQUEST_ID_LENGTH safe
 * characters (so a proxy's or a client's id ties its logs to ours), else a fresh UUID. Ids are for
 * logs and headers only: two requests may carry the same one.
 */
export function requestIdOf(req: IncomingMessage): string {
  const sent = req.headers['x-request-id'];
  return typeof sent === 'string' && SAFE_REQUEST_ID.test(sent) ? sent : randomUUID();
}
