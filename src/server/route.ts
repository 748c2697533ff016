import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { ServingEngine } from '../engine/serving-engine.js';
import type { HttpError } from './http-error.js';
import type { Logger } from './logging/logger.js';
import type { RequestRecord } from './logging/request-record.js';
import type { ServerMetrics } from './metrics/server-metrics.js';
import type { PromptEncoder } from './prompt-encoder.js';

/** Everything a handler gets for one request. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  /** performance.now() when the request arrived */
  readonly arrivedAtMs: number;
  /** aborted when the client goes away before the response is finished, or by `abort` */
  readonly signal: AbortSignal;
  /** aborts the request (its generations stop, their KV blocks are freed); a stream ends with `reason` as its error event */
  abort(reason: HttpError): void;
  /** a stream whose client leaves more than this many bytes unread is aborted (see sendStreamEvent) */
  readonly maxUnreadBytes: number;
  /** a non-streaming response not taken by its client this long after it was written is cut off (see sendResult) */
  readonly unreadResponseTimeoutMs: number;
  /** the parsed JSON body (POST routes only) */
  readonly body: unknown;
  readonly engine: ServingEngine;
  readonly metrics: ServerMetrics;
  /** prompts to token ids, off the event loop */
  readonly prompts: PromptEncoder;
  /** the served model's id: the one /v1/models lists first and responses name */
  readonly modelName: string;
  /** every id a request may name the model by: modelName, then its aliases */
  readonly servedModelNames: readonly string[];
  /** the route path's `{name}` parameter, when it has one (see find-route.ts) */
  readonly pathParams: Readonly<Record<string, string>>;
  /** unix seconds when the server was created */
  readonly startedAtSec: number;
  /** the server's logger, its records tagged with this request's id */
  readonly logger: Logger;
  /** what the request did (tokens, first token, error), logged as one line when it ends */
  readonly record: RequestRecord;
}

export interface Route {
  readonly method: 'GET' | 'HEAD' | 'POST';
  /** exact, or ending in a `{name}` segment that takes the rest of the path (find-route.ts) */
  readonly path: string;
  /** whether the bearer token is checked when the server has an API key */
  readonly isAuthRequired: boolean;
  /** one line for /openapi.json */
  readonly summary?: string;
  /** the body's zod schema, which the handler parses with and /openapi.json publishes under `name` */
  readonly requestBody?: { readonly name: string; readonly schema: z.ZodType };
  handle(ctx: RequestContext): Promise<void>;
}
