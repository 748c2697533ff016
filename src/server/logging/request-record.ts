import type { Logger } from 'pino';

/** an unmatched path is logged as sent, up to this many characters */
const MAX_LOGGED_PATH_CHARS = 256;

/**
 * What one request did, filled in as it runs (its route, tokens, first token, error) and logged as
 * one line when its response ends (`log`): info for a success, warn for a 4xx, error for a 5xx.
 */
export class RequestRecord {
  /** the matched route's path (`/v1/models/{id}`), or the request's own path when no route matched */
  route: string;
  numPromptTokens = 0;
  numCompletionTokens = 0;
  /** performance.now() when the first generated token arrived */
  firstTokenAtMs: number | undefined;
  /** the OpenAI error code the client was answered with (or that ended its stream) */
  errorCode: string | undefined;
  /** a status for a stream that ended with an error event (its HTTP status was already 200) */
  streamErrorStatus: number | undefined;

  constructor(
    readonly requestId: string,
    readonly method: string,
    path: string,
    /** performance.now() when the request arrived */
    readonly arrivedAtMs: number,
  ) {
    this.route = path.length > MAX_LOGGED_PATH_CHARS ? `${path.slice(0, MAX_LOGGED_PATH_CHARS)}…` : path;
  }

  /** One generation's tokens (a request with n choices counts the prompt once and sums completions). */
  addUsage(numPromptTokens: number, numCompletionTokens: number): void {
    this.numPromptTokens = numPromptTokens;
    this.numCompletionTokens += numCompletionTokens;
  }

  noteFirstToken(atMs: number): void {
    this.firstTokenAtMs ??= atMs;
  }

  /**
   * The request's one log line. `status`: the response's, undefined when none was started;
   * `isClientAbort`: the connection closed before the response ended.
   */
  log(logger: Logger, status: number | undefined, endedAtMs: number, isClientAbort: boolean): void {
    const effectiveStatus = this.streamErrorStatus ?? status ?? 0;
    const fields = {
      request_id: this.requestId,
      method: this.method,
      route: this.route,
      status,
      prompt_tokens: this.numPromptTokens,
      completion_tokens: this.numCompletionTokens,
      ttft_ms: this.firstTokenAtMs === undefined ? undefined : round(this.firstTokenAtMs - this.arrivedAtMs),
      duration_ms: round(endedAtMs - this.arrivedAtMs),
      aborted: isClientAbort ? 'client' : undefined,
      error_code: this.errorCode,
    };
    if (effectiveStatus >= 500) logger.error(fields, 'request');
    else if (effectiveStatus >= 400) logger.warn(fields, 'request');
    else logger.info(fields, 'request');
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
