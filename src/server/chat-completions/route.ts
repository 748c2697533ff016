import type { Route } from '../route.js';
import { chatCompletionBody } from './schema.js';
import { handleChatCompletion } from './handler.js';

export const chatCompletionsRoute: Route = {
  method: 'POST',
  path: '/v1/chat/completions',
  isAuthRequired: true,
  summary: 'Creates a chat completion',
  requestBody: { name: 'ChatCompletionRequest', schema: chatCompletionBody },
  handle: handleChatCompletion,
};
