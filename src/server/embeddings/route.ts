import type { Route } from '../route.js';
import { embeddingBody } from './schema.js';
import { handleEmbeddings } from './handler.js';

export const embeddingsRoute: Route = {
  method: 'POST',
  path: '/v1/embeddings',
  isAuthRequired: true,
  summary: 'Creates embeddings',
  requestBody: { name: 'EmbeddingRequest', schema: embeddingBody },
  handle: handleEmbeddings,
};
