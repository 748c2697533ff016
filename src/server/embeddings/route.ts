import type { Route } from '../route.js';
import { handleEmbeddings } from './handler.js';

export const embeddingsRoute: Route = {
  method: 'POST',
  path: '/v1/embeddings',
  isAuthRequired: true,
  handle: handleEmbeddings,
};
