import type { Route } from '../route.js';
import { sendJson } from '../send.js';
import { openApiDocument } from './openapi-document.js';

/**
 * GET /openapi.json: the OpenAPI 3.1 document of `routes` and itself, built once. Served without
 * the API key, as vLLM serves its /openapi.json: it describes the API, and holds nothing a client
 * could not learn by calling it.
 */
export function openApiRoute(routes: readonly Route[]): Route {
  let document: Record<string, unknown> | undefined;
  const route: Route = {
    method: 'GET',
    path: '/openapi.json',
    isAuthRequired: false,
    summary: 'This OpenAPI document',
    async handle({ res }) {
      document ??= openApiDocument([...routes, route]);
      sendJson(res, 200, document);
    },
  };
  return route;
}
