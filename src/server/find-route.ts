import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.js';
import type { Route } from './route.js';

export interface RouteMatch {
  readonly route: Route;
  /** the `{name}` segment of the route's path, percent-decoded */
  readonly pathParams: Readonly<Record<string, string>>;
}

/** A route path's last segment may be a `{name}` parameter; it takes the rest of the path, slashes included (model ids such as org/name). */
const PARAM = /\/\{(\w+)\}$/;

/** The route for the request's method and path; 404 for a path no route has, 405 for a method its routes lack. */
export function findRoute(routes: readonly Route[], req: IncomingMessage): RouteMatch {
  const { path, matches } = matchPath(routes, req);
  const match = matches.find((m) => m.route.method === req.method);
  if (!match) {
    const allowed = matches.map((m) => m.route.method).join(', ');
    throw new HttpError(405, `method ${req.method} is not allowed on ${path} (allowed: ${allowed})`, 'invalid_request_error', null, 'method_not_allowed', {
      allow: allowed,
    });
  }
  return match;
}

/** The methods the request's path has (for a CORS preflight); 404 for a path no route has. */
export function routeMethods(routes: readonly Route[], req: IncomingMessage): string[] {
  return matchPath(routes, req).matches.map((m) => m.route.method);
}

function matchPath(routes: readonly Route[], req: IncomingMessage): { path: string; matches: RouteMatch[] } {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
  const matches = routes.flatMap((route): RouteMatch[] => {
    const param = PARAM.exec(route.path);
    if (!param) return route.path === path ? [{ route, pathParams: {} }] : [];
    const prefix = route.path.slice(0, param.index + 1);
    if (!path.startsWith(prefix) || path.length === prefix.length) return [];
    return [{ route, pathParams: { [param[1]!]: decodePathPart(path.slice(prefix.length)) } }];
  });
  if (matches.length === 0) throw new HttpError(404, `no route ${req.method} ${path}`, 'invalid_request_error', null, 'not_found');
  return { path, matches };
}

function decodePathPart(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(400, `the path has a malformed percent-encoding: ${text}`, 'invalid_request_error', null, 'invalid_path');
  }
}
