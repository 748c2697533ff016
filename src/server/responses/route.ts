import type { Route } from '../route.js';
import { handleResponses } from './handler.js';

export const responsesRoute: Route = {
  method: 'POST',
  path: '/v1/responses',
  isAuthRequired: true,
  handle: handleResponses,
};
