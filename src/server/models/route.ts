import type { Route } from '../route.js';
import { sendJson } from '../send.js';

/** GET /v1/models: the one model this server serves. */
export const modelsRoute: Route = {
  method: 'GET',
  path: '/v1/models',
  isAuthRequired: true,
  async handle({ res, modelName, engine, startedAtSec }) {
    sendJson(res, 200, {
      object: 'list',
      data: [{ id: modelName, object: 'model', created: startedAtSec, owned_by: 'peregrine', max_model_len: engine.contextSize }],
    });
  },
};
