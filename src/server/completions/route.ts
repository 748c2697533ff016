import type { Route } from '../route.js';
import { completionBody } from './schema.js';
import { handleCompletion } from './handler.js';

export const completionsRoute: Route = {
  method: 'POST',
  path: '/v1/completions',
  isAuthRequired: true,
  summary: 'Creates a completion',
  requestBody: { name: 'CompletionRequest', schema: completionBody },
  handle: handleCompletion,
};
