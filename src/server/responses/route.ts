import type { Route } from '../route.js';
import { responsesBody } from './schema.js';
import { handleResponses } from './handler.js';

export const responsesRoute: Route = {
  method: 'POST',
  path: '/v1/responses',
  isAuthRequired: true,
  summary: 'Creates a model response (Responses API, text only)',
  requestBody: { name: 'ResponsesRequest', schema: responsesBody },
  handle: handleResponses,
};
