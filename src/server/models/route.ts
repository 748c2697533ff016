import { HttpError } from '../http-error.js';
import type { RequestContext, Route } from '../route.js';
import { sendJson } from '../send.js';

/** GET /v1/models: the served model, one entry per id it answers to (the main name first, then the aliases, as vLLM lists its served model names). */
export const modelsRoute: Route = {
  method: 'GET',
  path: '/v1/models',
  isAuthRequired: true,
  async handle(ctx) {
    sendJson(ctx.res, 200, { object: 'list', data: ctx.servedModelNames.map((id) => modelCard(ctx, id)) });
  },
};

/** GET /v1/models/{model}: one of those entries; 404 model_not_found for an id the server does not answer to. */
export const modelRoute: Route = {
  method: 'GET',
  path: '/v1/models/{model}',
  isAuthRequired: true,
  async handle(ctx) {
    const id = ctx.pathParams.model ?? '';
    if (!ctx.servedModelNames.includes(id)) {
      throw new HttpError(404, `The model '${id}' does not exist`, 'invalid_request_error', 'model', 'model_not_found');
    }
    sendJson(ctx.res, 200, modelCard(ctx, id));
  },
};

function modelCard({ startedAtSec, engine }: RequestContext, id: string) {
  return { id, object: 'model', created: startedAtSec, owned_by: 'peregrine', max_model_len: engine.contextSize };
}
