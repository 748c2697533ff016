import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ServingEngine } from '../engine/serving-engine.js';
import { ChatTemplate } from '../chat/chat-template.js';
import { PromptEncoder } from './prompt-encoder.js';
import { chatCompletionsRoute } from './chat-completions/route.js';
import { completionsRoute } from './completions/route.js';
import { ConnectionTracker } from './connection-tracker.js';
import { embeddingsRoute } from './embeddings/route.js';
import { CorsPolicy } from './cors.js';
import { findRoute, routeMethods } from './find-route.js';
import { healthRoute } from './health/route.js';
import { HttpError, toHttpError } from './http-error.js';
import { createLogger, type Logger } from './logging/logger.js';
import { RequestRecord } from './logging/request-record.js';
import { ServerMetrics } from './metrics/server-metrics.js';
import { metricsRoute } from './metrics/route.js';
import { modelRoute, modelsRoute } from './models/route.js';
import { openApiRoute } from './openapi/route.js';
import { checkJsonContentType, readJsonBody } from './read-json-body.js';
import { requestIdOf } from './request-id.js';
import { responsesRoute } from './responses/route.js';
import type { RequestContext, Route } from './route.js';
import { sendJson } from './send.js';
import { detokenizeRoute, tokenizeRoute } from './tokenize/route.js';
import { webPageHeadRoute, webPageRoute } from './web/route.js';

export interface ServerOptions {
  /** the id clients send as `model` and /v1/models lists */
  readonly modelName: string;
  /** more ids clients may send as `model` (vLLM's extra --served-model-name); responses name modelName */
  readonly modelAliases?: readonly string[];
  /** browser origins allowed to call the server (CORS): `*` for any, or exact origins; default none (CORS off) */
  readonly corsOrigins?: readonly string[];
  /** when set, /v1/* requires `Authorization: Bearer <apiKey>` */
  readonly apiKey?: string;
  /** default: the model's own (GGUF tokenizer.chat_template) or the built-in fallback */
  readonly chatTemplate?: ChatTemplate;
  /** a client must send a request's headers within this; then 408 and the connection closes (default 10 s) */
  readonly headersTimeoutMs?: number;
  /** a client must send a whole request, body included, within this; then 408 and the connection closes (default 60 s) */
  readonly requestTimeoutMs?: number;
  /**
   * a stream whose client leaves more than this many bytes unread (buffered in node and the socket)
   * is aborted: its generations stop and free their KV blocks (default 4 MiB)
   */
  readonly maxUnreadBytes?: number;
  /** a non-streaming response its client has not taken this long after it was written is cut off, freeing it (default 30 s) */
  readonly unreadResponseTimeoutMs?: number;
  /** request lines (one per request when it ends) and warnings; default: text lines of level warn and above on stderr */
  readonly logger?: Logger;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_UNREAD_BYTES = 4 * 1024 * 1024;
export const DEFAULT_UNREAD_RESPONSE_TIMEOUT_MS = 30_000;

export interface PeregrineServer extends Server {
  readonly metrics: ServerMetrics;
  /** open connections and the requests in flight on them (for shutdownGracefully) */
  readonly connectionTracker: ConnectionTracker;
  readonly logger: Logger;
}

const API_ROUTES: readonly Route[] = [
  completionsRoute,
  chatCompletionsRoute,
  embeddingsRoute,
  responsesRoute,
  modelsRoute,
  modelRoute,
  tokenizeRoute,
  detokenizeRoute,
  healthRoute,
  metricsRoute,
  webPageRoute,
  webPageHeadRoute,
];
const ROUTES: readonly Route[] = [...API_ROUTES, openApiRoute(API_ROUTES)];

/**
 * An OpenAI-compatible HTTP server over a ServingEngine (node:http, not yet listening). Errors become
 * OpenAI error JSON; unexpected ones a generic 500 logged with the request id. Slow clients are cut
 * off (headersTimeoutMs, requestTimeoutMs). The caller owns the engine: stop with shutdownGracefully,
 * which closes the server, then calls `engine.shutdown()`.
 */
export function createServer(engine: ServingEngine, options: ServerOptions): PeregrineServer {
  const cors = CorsPolicy.fromOrigins(options.corsOrigins); // throws on a bad origin, before anything starts
  const logger = options.logger ?? createLogger({ level: 'warn' });
  const metrics = new ServerMetrics(engine, options.modelName);
  const chatTemplate = options.chatTemplate ?? ChatTemplate.forModel(engine.model, logger);
  const prompts = PromptEncoder.start(engine, chatTemplate, logger);
  const startedAtSec = Math.floor(Date.now() / 1000);
  const apiKeyHash = options.apiKey === undefined ? undefined : sha256(options.apiKey);
  const servedModelNames = [...new Set([options.modelName, ...(options.modelAliases ?? [])])];
  const headersTimeoutMs = Math.ceil(options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS);
  const maxUnreadBytes = options.maxUnreadBytes ?? DEFAULT_MAX_UNREAD_BYTES;
  const requestTimeoutMs = Math.max(Math.ceil(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS), headersTimeoutMs);

  const server = createHttpServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      // how often node looks for expired requests (its default, 30 s, would stretch a 10 s timeout to 40 s)
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
    },
    (req, res) => {
      void handleRequest(req, res);
    },
  ) as PeregrineServer;
  server.once('close', () => prompts.close());
  const connections = new ConnectionTracker(server);
  Object.defineProperty(server, 'metrics', { value: metrics });
  Object.defineProperty(server, 'connectionTracker', { value: connections });
  Object.defineProperty(server, 'logger', { value: logger });
  return server;

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = requestIdOf(req);
    const arrivedAtMs = performance.now();
    const controller = new AbortController();
    // the path as sent (new URL() would throw on some request targets, and this runs outside the try)
    const record = new RequestRecord(requestId, req.method ?? '', (req.url ?? '/').split('?')[0]!, arrivedAtMs);
    const requestLogger = logger.child({ request_id: requestId });
    // 'close' before the response finished = the client went away: abort its generations
    res.on('close', () => {
      const isClientAbort = !res.writableFinished && !controller.signal.aborted;
      if (!res.writableFinished) controller.abort();
      // no status when no response was started (the connection closed first, or node answered a timed-out request itself)
      record.log(logger, res.headersSent ? res.statusCode : undefined, performance.now(), isClientAbort);
    });
    const tracked = connections.track(req, res, controller);
    res.setHeader('x-request-id', requestId);
    cors?.applyTo(req, res);
    try {
      if (cors && CorsPolicy.isPreflight(req)) {
        cors.answerPreflight(req, res, routeMethods(ROUTES, req));
        return;
      }
      if (connections.drainReason) throw connections.drainReason;
      const { route, pathParams } = findRoute(ROUTES, req);
      record.route = route.path;
      if (route.isAuthRequired && apiKeyHash) checkBearer(req, apiKeyHash);
      let body: unknown;
      if (route.method === 'POST') {
        checkJsonContentType(req);
        body = await readJsonBody(req, controller.signal);
      }
      tracked.isReceiving = false;
      if (route.method === 'POST' && engine.isQueueFull()) {
        throw new HttpError(429, 'the server is at capacity; retry later', 'rate_limit_error', null, 'queue_full', { 'retry-after': '1' });
      }
      const ctx: RequestContext = {
        req,
        res,
        requestId,
        arrivedAtMs,
        signal: controller.signal,
        abort: (reason) => controller.abort(reason),
        maxUnreadBytes,
        unreadResponseTimeoutMs: options.unreadResponseTimeoutMs ?? DEFAULT_UNREAD_RESPONSE_TIMEOUT_MS,
        body,
        engine,
        metrics,
        prompts,
        modelName: options.modelName,
        servedModelNames,
        pathParams,
        startedAtSec,
        logger: requestLogger,
        record,
      };
      await route.handle(ctx);
    } catch (err) {
      // the client went away (the server aborts with an HttpError): no one to answer, nothing to log
      if (controller.signal.aborted && !(controller.signal.reason instanceof HttpError)) return;
      const { httpError, isInternal } = toHttpError(err, requestId);
      record.errorCode = httpError.code ?? undefined;
      if (isInternal) requestLogger.error({ err }, 'request failed');
      if (res.headersSent) {
        res.destroy();
      } else if (!res.destroyed) {
        sendJson(res, httpError.status, httpError.toBody(), httpError.headers);
      }
    }
  }
}

function checkBearer(req: IncomingMessage, apiKeyHash: Buffer): void {
  const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (!match || !timingSafeEqual(sha256(match[1]!.trim()), apiKeyHash)) {
    throw new HttpError(401, match ? 'Incorrect API key provided' : 'Missing API key: send Authorization: Bearer <key>', 'authentication_error', null, 'invalid_api_key', {
      'www-authenticate': 'Bearer',
    });
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
