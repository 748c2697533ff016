import { createOpenAI } from '@ai-sdk/openai';
import { OpenAIEmbeddings } from '@langchain/openai';
import { embed, embedMany } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';
import { createServingEngine } from '../../src/engine/async-engine.js';
import { loadModel, type LoadedModel } from '../../src/engine/loaded-model.js';
import { toBase64, truncate } from '../../src/server/embeddings/handler.js';
import { MODEL_NAME, postJson, startTestServer, type TestServer } from './helpers.js';

const TEXTS = ['Once upon a time', 'The little dog ran to the park.', 'Lily and Tom'];
const ALIAS = 'text-embedding-3-small';

let model: LoadedModel;
let t: TestServer;

beforeAll(async () => {
  model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 128, threads: 1 });
  t = await startTestServer(createServingEngine(model, { maxNumSeqs: 4 }), undefined, { modelAliases: [ALIAS] });
});
afterAll(async () => {
  await t.close();
  await t.engine.shutdown(); // disposes the model
});

/** the library's vector, as JSON numbers */
async function libraryVector(text: string, options: Parameters<LoadedModel['embed']>[1] = {}): Promise<number[]> {
  return Array.from(await model.embed(text, options));
}

describe('POST /v1/embeddings with unchanged clients', () => {
  it('openai: float and the SDK default (base64, decoded by the SDK) give the library vectors, in order, with usage', async () => {
    const openai = t.client();
    const float = await openai.embeddings.create({ model: MODEL_NAME, input: TEXTS, encoding_format: 'float' });
    expect(float.object).toBe('list');
    expect(float.model).toBe(MODEL_NAME);
    expect(float.data.map((d) => d.index)).toEqual([0, 1, 2]);
    for (const [i, text] of TEXTS.entries()) expect(float.data[i]!.embedding).toEqual(await libraryVector(text));
    const numTokens = TEXTS.reduce((sum, text) => sum + model.tokenize(text).length, 0);
    expect(float.usage).toEqual({ prompt_tokens: numTokens, total_tokens: numTokens });

    const byDefault = await openai.embeddings.create({ model: ALIAS, input: TEXTS[0]! });
    expect(byDefault.data[0]!.embedding).toEqual(await libraryVector(TEXTS[0]!));
  });

  it('AI SDK: embed and embedMany through createOpenAI({baseURL}).embedding(id)', async () => {
    const provider = createOpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: 'unused' });
    const one = await embed({ model: provider.embedding(MODEL_NAME), value: TEXTS[1]!, maxRetries: 0 });
    expect(one.embedding).toEqual(await libraryVector(TEXTS[1]!));
    const many = await embedMany({ model: provider.textEmbeddingModel(MODEL_NAME), values: TEXTS, maxRetries: 0 });
    for (const [i, text] of TEXTS.entries()) expect(many.embeddings[i]).toEqual(await libraryVector(text));
  });

  it('LangChain: OpenAIEmbeddings with configuration.baseURL (embedQuery, embedDocuments)', async () => {
    const embeddings = new OpenAIEmbeddings({ model: MODEL_NAME, apiKey: 'unused', maxRetries: 0, configuration: { baseURL: `${t.baseUrl}/v1` } });
    expect(await embeddings.embedQuery(TEXTS[2]!)).toEqual(await libraryVector(TEXTS[2]!));
    const docs = await embeddings.embedDocuments(TEXTS);
    for (const [i, text] of TEXTS.entries()) expect(docs[i]).toEqual(await libraryVector(text));
  });
});

describe('POST /v1/embeddings fields', () => {
  const url = (): string => `${t.baseUrl}/v1/embeddings`;

  it('token-id input, one array or several, is embedded as given', async () => {
    const ids = model.tokenize(TEXTS[0]!);
    const one = await postJson(url(), { input: ids });
    expect(one.status).toBe(200);
    expect(one.body.data[0].embedding).toEqual(await libraryVector(TEXTS[0]!));
    const two = await postJson(url(), { input: [ids, ids.slice(0, 2)] });
    expect(two.body.data).toHaveLength(2);
    expect(two.body.usage.prompt_tokens).toBe(ids.length + 2);
  });

  it('pooling and normalize extensions; base64 is little-endian float32', async () => {
    const res = await postJson(url(), { input: TEXTS[1], pooling: 'last', normalize: false, encoding_format: 'base64' });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(res.body.data[0].embedding, 'base64');
    const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
    expect(decoded).toEqual(await libraryVector(TEXTS[1]!, { pooling: 'last', normalize: false }));
    expect(toBase64(Float32Array.of(1, -2))).toBe(Buffer.from([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]).toString('base64'));
  });

  it('dimensions truncates and renormalizes', async () => {
    const res = await postJson(url(), { input: TEXTS[0], dimensions: 16 });
    expect(res.status).toBe(200);
    const v: number[] = res.body.data[0].embedding;
    expect(v).toHaveLength(16);
    expect(Math.hypot(...v)).toBeCloseTo(1, 6);
    expect(v).toEqual(Array.from(truncate(await model.embed(TEXTS[0]!), 16, true)));
    const full = await libraryVector(TEXTS[0]!);
    expect(v[3]! / v[0]!).toBeCloseTo(full[3]! / full[0]!, 5); // same direction in those components
  });

  it('answers 400 (OpenAI error body) for bad input and fields, 404 for an unknown model', async () => {
    const cases: [unknown, number, string, string][] = [
      [{}, 400, 'input', 'missing_required_parameter'],
      [{ input: '' }, 400, 'input', 'invalid_value'],
      [{ input: [] }, 400, 'input', 'invalid_value'],
      [{ input: ['a', 3] }, 400, 'input[1]', 'invalid_type'],
      [{ input: [[1, 2], []] }, 400, 'input[1]', 'invalid_value'],
      [{ input: [1, 2.5] }, 400, 'input[1]', 'invalid_type'],
      [{ input: 'a', encoding_format: 'int8' }, 400, 'encoding_format', 'invalid_value'],
      [{ input: 'a', dimensions: 0 }, 400, 'dimensions', 'invalid_value'],
      [{ input: 'a', dimensions: 100_000 }, 400, 'dimensions', 'invalid_value'],
      [{ input: 'a', pooling: 'max' }, 400, 'pooling', 'invalid_value'],
      [{ input: 'a', normalize: 'yes' }, 400, 'normalize', 'invalid_type'],
      [{ input: 'a', model: 'other' }, 404, 'model', 'model_not_found'],
    ];
    for (const [body, status, param, code] of cases) {
      const res = await postJson(url(), body);
      expect([res.status, res.body.error?.param, res.body.error?.code], JSON.stringify(body)).toEqual([status, param, code]);
    }
    const outOfVocab = await postJson(url(), { input: [1, 100_000] });
    expect([outOfVocab.status, outOfVocab.body.error.code]).toEqual([400, 'invalid_token']);
  });

  it('an input beyond the context is 400 context_length_exceeded, text or tokens', async () => {
    for (const input of ['word '.repeat(400), Array.from({ length: 129 }, () => 5)]) {
      const res = await postJson(url(), { input: ['fine', input] });
      expect([res.status, res.body.error.code, res.body.error.param]).toEqual([400, 'context_length_exceeded', 'input']);
    }
    expect((await postJson(url(), { input: Array.from({ length: 128 }, () => 5) })).status).toBe(200); // the whole context
  });
});
