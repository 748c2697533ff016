import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServingEngine } from '../../src/engine/serving-engine.js';
import { loadTestEngine, MODEL_NAME, postJson, startTestServer, type TestServer } from './helpers.js';

let engine: ServingEngine;
let t: TestServer;
let openai: OpenAI;

beforeAll(async () => {
  engine = await loadTestEngine();
  t = await startTestServer(engine);
  openai = t.client();
});
afterAll(async () => {
  await t.close();
  await engine.shutdown();
});

/** the greedy chat completion of the same conversation: what /v1/responses must say too (same template, same prompt) */
async function chatText(messages: { role: 'system' | 'user' | 'assistant'; content: string }[], maxTokens: number): Promise<string> {
  const r = await openai.chat.completions.create({ model: MODEL_NAME, messages, temperature: 0, max_tokens: maxTokens });
  return r.choices[0]!.message.content ?? '';
}

describe('POST /v1/responses with the openai SDK', () => {
  it('a string input: the text of the chat completion of one user turn, usage, status, ids', async () => {
    const r = await openai.responses.create({ model: MODEL_NAME, input: 'Once upon a time', temperature: 0, max_output_tokens: 12 });
    const expected = await chatText([{ role: 'user', content: 'Once upon a time' }], 12);
    expect(expected.length).toBeGreaterThan(0);
    expect(r.object).toBe('response');
    expect(r.id).toMatch(/^resp_[0-9a-f]{32}$/);
    expect(r.model).toBe(MODEL_NAME);
    expect(r.output_text).toBe(expected);
    expect(r.output).toHaveLength(1);
    const item = r.output[0]!;
    expect(item.type).toBe('message');
    if (item.type !== 'message') return;
    expect(item.role).toBe('assistant');
    expect(item.content).toEqual([{ type: 'output_text', text: expected, annotations: [], logprobs: [] }]);
    expect(r.usage!.output_tokens).toBeGreaterThan(0);
    expect(r.usage!.total_tokens).toBe(r.usage!.input_tokens + r.usage!.output_tokens);
    // cut by max_output_tokens (stories260K rarely ends a story in 12 tokens) or stopped: the status says which
    if (r.usage!.output_tokens === 12) {
      expect(r.status).toBe('incomplete');
      expect(r.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    } else {
      expect(r.status).toBe('completed');
      expect(r.incomplete_details).toBeNull();
    }
  });

  it('instructions and multi-turn input items render through the chat template as chat messages do', async () => {
    const r = await openai.responses.create({
      model: MODEL_NAME,
      instructions: 'Tell a story.',
      input: [
        { role: 'user', content: 'Once upon a time' },
        { type: 'message', id: 'msg_earlier', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'there was a cat.', annotations: [] }] },
        { role: 'developer', content: [{ type: 'input_text', text: 'Keep it short.' }] },
        { role: 'user', content: [{ type: 'input_text', text: 'The cat' }, { type: 'input_text', text: ' ran' }] },
      ],
      temperature: 0,
      max_output_tokens: 16,
    });
    const expected = await chatText(
      [
        { role: 'system', content: 'Tell a story.' },
        { role: 'user', content: 'Once upon a time' },
        { role: 'assistant', content: 'there was a cat.' },
        { role: 'system', content: 'Keep it short.' },
        { role: 'user', content: 'The cat ran' },
      ],
      16,
    );
    expect(r.output_text).toBe(expected);
    expect(r.instructions).toBe('Tell a story.');
    const single = await openai.responses.create({ model: MODEL_NAME, input: 'The cat ran', temperature: 0, max_output_tokens: 16 });
    expect(single.usage!.input_tokens).toBeLessThan(r.usage!.input_tokens);
  });

  it('streams the event sequence the SDK expects, numbered, with deltas that add up to the text', async () => {
    const stream = await openai.responses.create({ model: MODEL_NAME, input: 'Once upon a time', temperature: 0, max_output_tokens: 20, stream: true });
    const events: any[] = [];
    for await (const event of stream) events.push(event);
    const types = events.map((e) => e.type);
    const numDeltas = types.filter((type) => type === 'response.output_text.delta').length;
    expect(numDeltas).toBeGreaterThan(1);
    const last = types.at(-1)!;
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array(numDeltas).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      last,
    ]);
    expect(['response.completed', 'response.incomplete']).toContain(last);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    const nonStreamed = await openai.responses.create({ model: MODEL_NAME, input: 'Once upon a time', temperature: 0, max_output_tokens: 20 });
    expect(text).toBe(nonStreamed.output_text);
    expect(events.find((e) => e.type === 'response.output_text.done').text).toBe(text);
    const final = events.at(-1).response;
    expect(final.id).toBe(events[0].response.id);
    expect(events[0].response.status).toBe('in_progress');
    expect(final.output[0].content[0].text).toBe(text);
    expect(final.usage.output_tokens).toBe(nonStreamed.usage!.output_tokens);
    expect(final.status).toBe(nonStreamed.status);
  });

  it('max_output_tokens cuts the response: status incomplete, reason max_output_tokens', async () => {
    const r = await openai.responses.create({ model: MODEL_NAME, input: 'Once upon a time', temperature: 0, max_output_tokens: 3 });
    expect(r.status).toBe('incomplete');
    expect(r.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(r.usage!.output_tokens).toBe(3);
  });
});

describe('POST /v1/responses with the AI SDK (createOpenAI()(id) calls /v1/responses)', () => {
  const provider = () => createOpenAI({ baseURL: `${t.baseUrl}/v1`, apiKey: 'unused' })(MODEL_NAME);

  it('generateText', async () => {
    const r = await generateText({ model: provider(), prompt: 'Once upon a time', temperature: 0, maxOutputTokens: 12 });
    const direct = await openai.responses.create({ model: MODEL_NAME, input: 'Once upon a time', temperature: 0, max_output_tokens: 12 });
    expect(r.text).toBe(direct.output_text);
    expect(r.text.length).toBeGreaterThan(0);
    expect(r.usage.outputTokens).toBe(direct.usage!.output_tokens);
    expect(r.finishReason).toBe(direct.status === 'incomplete' ? 'length' : 'stop');
  });

  it('streamText, with a system prompt and a conversation', async () => {
    const messages = [
      { role: 'user' as const, content: 'Once upon a time' },
      { role: 'assistant' as const, content: 'there was a dog.' },
      { role: 'user' as const, content: 'The dog' },
    ];
    const result = streamText({ model: provider(), system: 'Tell a story.', messages, temperature: 0, maxOutputTokens: 16 });
    let text = '';
    for await (const delta of result.textStream) text += delta;
    expect(text).toBe(await chatText([{ role: 'system', content: 'Tell a story.' }, ...messages], 16));
    expect((await result.usage).outputTokens).toBeGreaterThan(0);
  });
});

describe('POST /v1/responses: a failure mid-stream', () => {
  it("ends the stream with a numbered 'error' event: the openai SDK throws it, the AI SDK reports it", async () => {
    // an engine that generates one token, then fails
    const failing: ServingEngine = {
      ...engine,
      model: engine.model,
      tokenizer: engine.tokenizer,
      contextSize: engine.contextSize,
      isQueueFull: () => false,
      deadReason: undefined,
      stats: () => engine.stats(),
      shutdown: async () => {},
      generate: async function* () {
        yield { text: 'Once', tokenIds: [5] };
        throw new Error('kernel exploded');
      },
    };
    const broken = await startTestServer(failing);
    try {
      const res = await fetch(`${broken.baseUrl}/v1/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: 'x', stream: true }),
      });
      const events = (await res.text()).split('\n\n').filter(Boolean);
      const last = events.at(-1)!;
      expect(last).toMatch(/^event: error\ndata: /);
      const data = JSON.parse(last.split('\ndata: ')[1]!);
      expect(data).toMatchObject({ type: 'error', sequence_number: events.length - 1, error: { type: 'server_error', code: 'internal_error' } });
      expect(events.at(-2)).toMatch(/^event: response.output_text.delta\ndata: .*"delta":"Once"/);

      const client = broken.client();
      const stream = await client.responses.create({ model: MODEL_NAME, input: 'x', stream: true });
      await expect(async () => {
        for await (const _ of stream) void _;
      }).rejects.toThrow(/internal server error/);

      const result = streamText({ model: createOpenAI({ baseURL: `${broken.baseUrl}/v1`, apiKey: 'unused' })(MODEL_NAME), prompt: 'x', onError: () => {} });
      const parts: string[] = [];
      for await (const part of result.fullStream) parts.push(part.type);
      expect(parts).toContain('error');
    } finally {
      await broken.close();
    }
  });
});

describe('POST /v1/responses: refused requests name the field', () => {
  const cases: [string, object, string][] = [
    ['no input', {}, 'input'],
    ['empty input', { input: [] }, 'input'],
    ['input of the wrong type', { input: 42 }, 'input'],
    ['an image part', { input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }] }, 'input[0].content[0].type'],
    ['a function call item', { input: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: '{}' }] }, 'input[0].type'],
    ['a bad role', { input: [{ role: 'tool', content: 'x' }] }, 'input[0].role'],
    ['previous_response_id', { input: 'x', previous_response_id: 'resp_1' }, 'previous_response_id'],
    ['store: true', { input: 'x', store: true }, 'store'],
    ['tools', { input: 'x', tools: [{ type: 'function', name: 'f', parameters: {} }] }, 'tools'],
    ['reasoning', { input: 'x', reasoning: { effort: 'high' } }, 'reasoning'],
    ['a JSON schema text format', { input: 'x', text: { format: { type: 'json_schema', name: 'n', schema: {} } } }, 'text.format'],
    ['temperature out of range', { input: 'x', temperature: 3 }, 'temperature'],
    ['max_output_tokens of 0', { input: 'x', max_output_tokens: 0 }, 'max_output_tokens'],
    ['max_output_tokens past the context', { input: 'x', max_output_tokens: 100_000 }, 'max_output_tokens'],
  ];
  it.each(cases)('%s → 400 with param %s', async (_name, body, param) => {
    const r = await postJson(`${t.baseUrl}/v1/responses`, { model: MODEL_NAME, ...body });
    expect(r.status).toBe(400);
    expect(r.body.error.type).toBe('invalid_request_error');
    expect(r.body.error.param).toBe(param);
  });

  it('accepts the explicit defaults (store: false, tools: [], text format text, truncation disabled) and an unknown model is a 404', async () => {
    const ok = await postJson(`${t.baseUrl}/v1/responses`, {
      model: MODEL_NAME,
      input: 'Once upon a time',
      max_output_tokens: 2,
      store: false,
      tools: [],
      text: { format: { type: 'text' } },
      truncation: 'disabled',
      metadata: { k: 'v' },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.metadata).toEqual({ k: 'v' });
    const missing = await postJson(`${t.baseUrl}/v1/responses`, { model: 'gpt-4o', input: 'x' });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('model_not_found');
  });
});
