import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidRequestError } from '../errors/engine-error.js';
import { HttpError } from './http-error.js';

/** request headers a preflight always allows: the OpenAI clients' bearer token and JSON body */
const ALWAYS_ALLOWED_HEADERS = ['authorization', 'content-type'];
/** a header list as Access-Control-Request-Headers sends it: comma-separated header names */
const HEADER_LIST = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$/;
/** how long a browser may cache a preflight's answer */
const PREFLIGHT_MAX_AGE_SEC = 600;

/**
 * Which browser origins may call the server (CORS), off unless origins are given: `*` for any, or
 * exact origins (`https://app.example.com`). An allowed origin's responses carry
 * Access-Control-Allow-Origin and expose x-request-id; its preflights (OPTIONS) are answered with
 * the route's methods and the requested headers (Authorization and Content-Type at the least),
 * before any API key check, as browsers send no credentials on a preflight.
 */
export class CorsPolicy {
  private constructor(
    private readonly isAnyOrigin: boolean,
    private readonly origins: ReadonlySet<string>,
  ) {}

  /** undefined when no origin is given (CORS off); throws InvalidRequestError on an origin that is not `*` or scheme://host[:port] */
  static fromOrigins(origins: readonly string[] | undefined): CorsPolicy | undefined {
    if (origins === undefined || origins.length === 0) return undefined;
    for (const origin of origins) {
      if (origin !== '*' && !isOrigin(origin)) {
        throw new InvalidRequestError('INVALID_ARGUMENT', `CORS origin '${origin}' must be * or scheme://host[:port] with no path (such as https://app.example.com)`);
      }
    }
    return new CorsPolicy(origins.includes('*'), new Set(origins));
  }

  /** whether req is a CORS preflight: OPTIONS from an origin, naming the method it wants */
  static isPreflight(req: IncomingMessage): boolean {
    return req.method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined;
  }

  /** sets the response's CORS headers when the request comes from an allowed origin (requests without Origin get none) */
  applyTo(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    if (!this.isAnyOrigin) res.setHeader('vary', 'Origin');
    if (!this.isAnyOrigin && !this.origins.has(origin)) return;
    res.setHeader('access-control-allow-origin', this.isAnyOrigin ? '*' : origin);
    res.setHeader('access-control-expose-headers', 'x-request-id');
  }

  /** answers a preflight for a path with these methods: 204 with the allow headers, or 403 for an origin not allowed */
  answerPreflight(req: IncomingMessage, res: ServerResponse, methods: readonly string[]): void {
    const origin = req.headers.origin ?? '';
    if (!this.isAnyOrigin && !this.origins.has(origin)) {
      throw new HttpError(403, `origin '${origin}' is not allowed (serve --cors-origin)`, 'invalid_request_error', null, 'origin_not_allowed');
    }
    const requested = req.headers['access-control-request-headers'] ?? '';
    const headers = new Set(ALWAYS_ALLOWED_HEADERS);
    if (HEADER_LIST.test(requested.trim())) for (const name of requested.split(',')) headers.add(name.trim().toLowerCase());
    res.writeHead(204, {
      'access-control-allow-methods': [...methods, 'OPTIONS'].join(', '),
      'access-control-allow-headers': [...headers].join(', '),
      'access-control-max-age': String(PREFLIGHT_MAX_AGE_SEC),
    });
    res.end();
  }
}

function isOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === text;
  } catch {
    return false;
  }
}
