import { CapacityError, EngineError, InvalidRequestError } from '../errors/engine-error.js';

export type OpenAiErrorType = 'invalid_request_error' | 'authentication_error' | 'rate_limit_error' | 'server_error';

/** The OpenAI error body: `{ "error": { message, type, param, code } }`. */
export interface OpenAiErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: OpenAiErrorType;
    readonly param: string | null;
    readonly code: string | null;
  };
}

/** An error the server answers with a known status and OpenAI-style body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: OpenAiErrorType = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }

  toBody(): OpenAiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 for one bad request field, named by its path (e.g. `messages[0].content`). */
export function invalidParam(param: string, message: string, code = 'invalid_value'): HttpError {
  return new HttpError(400, message, 'invalid_request_error', param, code);
}

/**
 * Known errors keep their meaning (engine request errors → 400, capacity → 429); anything else is
 * an internal error and becomes a generic 500 (the caller logs the original with the request id).
 */
export function toHttpError(err: unknown, requestId: string): { httpError: HttpError; isInternal: boolean } {
  if (err instanceof HttpError) return { httpError: err, isInternal: false };
  if (err instanceof InvalidRequestError) {
    return { httpError: new HttpError(400, err.message, 'invalid_request_error', err.param ?? null, err.code.toLowerCase()), isInternal: false };
  }
  if (err instanceof CapacityError) {
    return {
      httpError: new HttpError(429, err.message, 'rate_limit_error', null, err.code.toLowerCase(), { 'retry-after': '1' }),
      isInternal: false,
    };
  }
  const code = err instanceof EngineError ? err.code.toLowerCase() : 'internal_error';
  return {
    httpError: new HttpError(500, `internal server error (request id ${requestId})`, 'server_error', null, code),
    isInternal: true,
  };
}
