import { createRequire } from 'node:module';
import { z } from 'zod';
import type { Route } from '../route.js';

type JsonSchema = Record<string, unknown>;

/** OpenAI's error body, as every 4xx/5xx answer carries it (http-error.ts). */
const errorBody = z.object({
  error: z.object({
    message: z.string(),
    type: z.enum(['invalid_request_error', 'authentication_error', 'rate_limit_error', 'server_error']),
    /** the offending field's path, e.g. `messages[0].content` */
    param: z.string().nullable(),
    code: z.string().nullable(),
  }),
});

/** a zod schema as the JSON Schema (2020-12, OpenAPI 3.1's dialect) of what a client sends */
function toSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as JsonSchema;
  return rest;
}

/**
 * The OpenAPI 3.1 document of `routes`: every path and method, the request bodies from the same zod
 * schemas the handlers parse with, the error body, and bearer auth on the routes that take it
 * (checked only when the server has an API key).
 */
export function openApiDocument(routes: readonly Route[]): JsonSchema {
  const schemas: Record<string, JsonSchema> = { ErrorResponse: toSchema(errorBody) };
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const errorResponse = { description: 'OpenAI-style error', content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorResponse' } } } };
  for (const route of routes) {
    const operation: JsonSchema = {
      ...(route.summary ? { summary: route.summary } : {}),
      responses: { '200': { description: 'OK' }, '4XX': errorResponse, '5XX': errorResponse },
    };
    const param = /\{(\w+)\}$/.exec(route.path);
    if (param) operation.parameters = [{ name: param[1], in: 'path', required: true, schema: { type: 'string' } }];
    if (route.requestBody) {
      schemas[route.requestBody.name] = toSchema(route.requestBody.schema);
      operation.requestBody = { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${route.requestBody.name}` } } } };
    }
    if (route.isAuthRequired) operation.security = [{ bearerAuth: [] }];
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Peregrine', version: createRequire(import.meta.url)('../../../package.json').version as string },
    paths,
    components: { schemas, securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
  };
}
