import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServingEngine } from '../../src/engine/serving-engine.js';
import { fetchJson, loadTestEngine, postJson, startTestServer, type TestServer } from './helpers.js';

let engine: ServingEngine;
let t: TestServer;

beforeAll(async () => {
  engine = await loadTestEngine();
  t = await startTestServer(engine, 'secret-key');
}, 60_000);

afterAll(async () => {
  await t?.close();
  await engine?.shutdown(); // disposes the model
});

/** [path, a request the server takes, one it answers 400] */
const BODIES: [string, unknown, unknown][] = [
  ['/v1/chat/completions', { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], max_tokens: 2, tools: [{ type: 'function', function: { name: 'f' } }] }, { messages: [{ role: 'wizard', content: 'hi' }] }],
  ['/v1/completions', { prompt: [1, 2, 3], max_tokens: 2, stop: ['\n'], temperature: 0 }, { prompt: 'x', top_p: 0 }],
  ['/v1/embeddings', { input: ['a', [1, 2]], encoding_format: 'base64' }, { input: 'a', encoding_format: 'int8' }],
  ['/v1/responses', { input: [{ role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], max_output_tokens: 2 }, { input: 42 }],
  ['/tokenize', { content: 'Once upon', with_pieces: true }, { content: 42 }],
  ['/detokenize', { tokens: [1, 2] }, { tokens: [1, 1.5] }],
];

describe('GET /openapi.json', () => {
  it('is a well-formed OpenAPI 3.1 document of every route, served without the API key', async () => {
    const { status, body: doc } = await fetchJson(`${t.baseUrl}/openapi.json`);
    expect(status).toBe(200);
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toMatchObject({ title: 'Peregrine', version: expect.any(String) });
    for (const path of ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses', '/v1/models', '/v1/models/{model}', '/tokenize', '/detokenize', '/health', '/metrics', '/', '/openapi.json']) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    expect(doc.paths['/v1/models/{model}'].get.parameters).toEqual([{ name: 'model', in: 'path', required: true, schema: { type: 'string' } }]);
    expect(doc.paths['/v1/chat/completions'].post.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/health'].get.security).toBeUndefined();
    // every $ref resolves
    for (const ref of JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)) expect(doc.components.schemas, ref[1]).toHaveProperty([ref[1]!]);
  });

  it.each(BODIES)('%s: its requestBody schema (checked with ajv) takes a good request and refuses a bad one, as the server does', async (path, good, bad) => {
    const { body: doc } = await fetchJson(`${t.baseUrl}/openapi.json`);
    const ref: string = doc.paths[path].post.requestBody.content['application/json'].schema.$ref;
    const ajv = new Ajv2020({ strict: false });
    ajv.addSchema({ $id: 'doc', components: doc.components });
    const validate = ajv.compile({ $ref: `doc#${ref.slice(1)}` });
    expect(validate(good), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(bad)).toBe(false);
    const auth = { authorization: 'Bearer secret-key' };
    expect((await postJson(`${t.baseUrl}${path}`, good, auth)).status).toBe(200);
    expect((await postJson(`${t.baseUrl}${path}`, bad, auth)).status).toBe(400);
  });

  it('describes the error body every 4xx carries', async () => {
    const { body: doc } = await fetchJson(`${t.baseUrl}/openapi.json`);
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(doc.components.schemas.ErrorResponse);
    const r = await postJson(`${t.baseUrl}/v1/completions`, { prompt: 'x', n: 0 }, { authorization: 'Bearer secret-key' });
    expect(r.body.error).toMatchObject({ param: 'n', type: 'invalid_request_error', code: 'invalid_value' });
    expect(validate(r.body), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ error: { message: 'x' } })).toBe(false);
  });
});
