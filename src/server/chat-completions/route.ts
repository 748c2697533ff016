import type { Route } from '../route.js';
import { handleChatCompletion } from './handler.js';

export const chatCompletionsRoute: Route = {
  method: 'POST',
  path: '/v1/chat/completions',
  isAuthRequired: true,
  handle: handleChatCompletion,
};
