import type { Route } from '../route.js';
import { handleCompletion } from './handler.js';

export const completionsRoute: Route = {
  method: 'POST',
  path: '/v1/completions',
  isAuthRequired: true,
  handle: handleCompletion,
};
