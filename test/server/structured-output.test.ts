import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServingEngine } from '../../src/engine/serving-engine.js';
import { tokenPiece } from '../../src/server/token-text.js';
import { loadTestEngine, postJson, startTestServer, type TestServer } from './helpers.js';

let engine: ServingEngine;
let s: TestServer;
beforeAll(async () => {
  engine = await loadTestEngine();
  s = await startTestServer(engine);
});
afterAll(async () => {
  await s.close();
  await engine.shutdown();
});

const chat = (body: object) => postJson(`${s.baseUrl}/v1/chat/completions`, { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 60, ...body });
const complete = (body: object) => postJson(`${s.baseUrl}/v1/completions`, { prompt: 'Once upon a time', max_tokens: 40, ...body });
const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 10 } }, required: ['city'], additionalProperties: false } },
};

describe('bad structured-output and tool fields: 400 with the OpenAI error body naming the problem', () => {
  it.each([
    [{ response_format: 'json' }, 'response_format', /must be a JSON object/],
    [{ response_format: { type: 'xml' } }, 'response_format.type', /'text', 'json_object' or 'json_schema'/],
    [{ response_format: { type: 'json_schema', json_schema: { schema: {} } } }, 'response_format.json_schema.name', /name/],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', patternProperties: { a: {} } } } } }, 'response_format', /patternProperties/],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'banana' } } } }, 'response_format', /banana/],
    [{ grammar: 'root ::= missing' }, 'grammar', /undefined rule 'missing'/],
    [{ guided_regex: '(' }, 'guided_regex', /./],
    [{ guided_json: '{not json' }, 'guided_json', /not valid JSON/],
    [{ grammar: 'root ::= "a"', response_format: { type: 'json_object' } }, 'grammar', /only one of/],
    [{ tools: {} }, 'tools', /must be an array/],
    [{ tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 'tools[0].function.name', /letters, digits/],
    [{ tools: [{ type: 'retrieval' }] }, 'tools[0].type', /'function'/],
    [{ tools: [weatherTool], tool_choice: 'always' }, 'tool_choice', /'auto', 'none', 'required'/],
    [{ tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'launch' } } }, 'tool_choice', /not in 'tools'/],
    [{ tool_choice: 'required' }, 'tool_choice', /needs 'tools'/],
    [{ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'banana' } } } } }], tool_choice: 'required' }, 'tools', /banana/],
    [{ logit_bias: { abc: 1 } }, 'logit_bias', /not a token id/],
    [{ logit_bias: { 100000: 1 } }, 'logit_bias', /not a token id/],
    [{ logit_bias: { 5: 101 } }, 'logit_bias', /\[-100, 100\]/],
    [{ messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id', /required/],
    [{ messages: [{ role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { name: 'f', arguments: {} } }] }] }, 'messages[0].tool_calls[0].function.arguments', /string/],
  ])('%j → 400 on %s', async (body, param, message) => {
    const r = await chat(body);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param });
    expect(r.body.error.message).toMatch(message);
  });

  it('response_format text, tool_choice none and a json_schema without a schema are accepted', async () => {
    expect((await chat({ response_format: { type: 'text' }, max_tokens: 5 })).status).toBe(200);
    const none = await chat({ tools: [weatherTool], tool_choice: 'none', max_tokens: 5 });
    expect(none.status).toBe(200);
    expect(none.body.choices[0].message.tool_calls).toBeUndefined();
    const schemaless = await chat({ response_format: { type: 'json_schema', json_schema: { name: 'any' } }, max_tokens: 120, seed: 1 });
    expect(schemaless.status).toBe(200);
  });
});

describe('constraints on both endpoints', () => {
  it('json_object: every seed parses as a JSON object (or stopped by max_tokens)', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, seed) => chat({ response_format: { type: 'json_object' }, seed, max_tokens: 120 })));
    for (const r of results) {
      const choice = r.body.choices[0];
      if (choice.finish_reason === 'length') continue;
      expect(choice.finish_reason).toBe('stop');
      const value = JSON.parse(choice.message.content);
      expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true);
    }
  });

  it('completions: guided_regex, a GBNF grammar and guided_json shape the text', async () => {
    const regex = await complete({ guided_regex: '[a-z]{3,8}( [a-z]{3,8}){2}', seed: 3 });
    expect(regex.body.choices[0].text).toMatch(/^[a-z]{3,8}( [a-z]{3,8}){2}$/);
    expect(regex.body.choices[0].finish_reason).toBe('stop');
    const gbnf = await complete({ grammar: 'root ::= ("yes" | "no") "!"', seed: 4 });
    expect(gbnf.body.choices[0].text).toMatch(/^(yes|no)!$/);
    const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 9 } }, required: ['n'], additionalProperties: false };
    const json = await complete({ guided_json: schema, seed: 5, max_tokens: 60 });
    expect(new Ajv().validate(schema, JSON.parse(json.body.choices[0].text))).toBe(true);
  });

  it('streamed: the deltas of a constrained choice join to a match', async () => {
    const res = await fetch(`${s.baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Once', max_tokens: 40, stream: true, guided_regex: '(ab|cd){4}', seed: 2 }),
    });
    const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
    expect(events.map((e) => e.choices[0]?.text ?? '').join('')).toMatch(/^(ab|cd){4}$/);
  });
});

describe('logit_bias', () => {
  it('-100 keeps the greedy token from being produced, +100 forces one; logprobs stay the raw distribution', async () => {
    const tokenizer = engine.tokenizer;
    const prompt = 'Once upon a time';
    const freeIds: number[] = [];
    for await (const chunk of engine.generate(prompt, { temperature: 0, maxTokens: 6 })) freeIds.push(...chunk.tokenIds);
    const first = freeIds[0]!;
    const piece = (id: number) => tokenPiece(tokenizer, id).text;
    const tokensOf = async (bias: object) => {
      const r = await complete({ prompt, temperature: 0, max_tokens: 6, logprobs: 1, logit_bias: bias });
      expect(r.status).toBe(200);
      return r.body.choices[0].logprobs as { tokens: string[]; top_logprobs: Record<string, number>[] };
    };
    expect((await tokensOf({})).tokens[0]).toBe(piece(first));
    const banned = await tokensOf({ [first]: -100 });
    expect(banned.tokens).not.toContain(piece(first));
    expect(Object.keys(banned.top_logprobs[0]!)).toEqual([piece(first)]); // still the model's most likely token
    const forcedId = freeIds.find((id) => id !== first) ?? first + 1;
    expect((await tokensOf({ [forcedId]: 100 })).tokens).toEqual(Array(6).fill(piece(forcedId)));
  });
});

describe("tool_choice 'auto' on a model that may or may not call", () => {
  it('returns valid tool calls or plain content, never broken JSON as a call', async () => {
    const results = await Promise.all(Array.from({ length: 12 }, (_, seed) => chat({ tools: [weatherTool], seed, max_tokens: 30 })));
    for (const r of results) {
      expect(r.status).toBe(200);
      const { message, finish_reason } = r.body.choices[0];
      if (message.tool_calls) {
        expect(finish_reason).toBe('tool_calls');
        for (const call of message.tool_calls) expect(JSON.parse(call.function.arguments)).toBeTypeOf('object');
      } else {
        expect(typeof message.content).toBe('string');
      }
    }
  });
});

describe('streamed tool calls on the wire', () => {
  it("tool_choice 'required', stream: role, then per call index/id/type/name with empty arguments, then argument deltas, then finish_reason tool_calls", async () => {
    const res = await fetch(`${s.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 100, stream: true, seed: 1, tools: [weatherTool], tool_choice: 'required', parallel_tool_calls: false }),
    });
    const deltas = (await res.text())
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)).choices[0]);
    expect(deltas[0].delta).toEqual({ role: 'assistant', content: '' });
    const calls = deltas.filter((d) => d.delta.tool_calls).map((d) => d.delta.tool_calls[0]);
    expect(calls[0]).toEqual({ index: 0, id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_weather', arguments: '' } });
    expect(calls.length).toBeGreaterThan(1);
    for (const c of calls.slice(1)) expect(Object.keys(c).sort()).toEqual(['function', 'index']);
    const args = JSON.parse(calls.map((c) => c.function.arguments).join(''));
    expect(new Ajv().validate(weatherTool.function.parameters, args)).toBe(true);
    expect(deltas.at(-1)).toMatchObject({ delta: {}, finish_reason: 'tool_calls' });
    expect(deltas.some((d) => typeof d.delta.content === 'string' && d.delta.content !== '')).toBe(false);
  });
});

