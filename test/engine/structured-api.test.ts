import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, InvalidRequestError, loadModel, type ChatMessage, type ChatSession, type LoadedModel } from '../../src/api/index.js';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';

let model: LoadedModel;
beforeAll(async () => {
  model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 512, threads: 1 });
});
afterAll(() => model.dispose());

const schema = {
  type: 'object',
  properties: { word: { type: 'string', maxLength: 8 }, count: { type: 'integer', minimum: 0, maximum: 9 } },
  required: ['word', 'count'],
  additionalProperties: false,
};

describe('TypeScript API: generate/complete with responseFormat, grammar, logitBias', () => {
  it('responseFormat json_schema: the text validates against the schema, greedy and sampled', async () => {
    const validate = new Ajv().compile(schema);
    for (const temperature of [0, 1]) {
      for (let seed = 0; seed < 5; seed++) {
        const result = await model.complete('Once upon a time', { responseFormat: { type: 'json_schema', schema }, temperature, seed, maxTokens: 100 });
        expect(result.finishReason).toBe('stop');
        expect(validate(JSON.parse(result.text))).toBe(true);
      }
    }
  });

  it('grammar (GBNF) and a regex constraint', async () => {
    const gbnf = await model.complete('Once', { grammar: 'root ::= ("red" | "blue") " " [0-9]', seed: 1 });
    expect(gbnf.text).toMatch(/^(red|blue) [0-9]$/);
    const regex = await model.complete('Once', { constraint: { type: 'regex', pattern: '[a-z]{2,5}!' }, seed: 2 });
    expect(regex.text).toMatch(/^[a-z]{2,5}!$/);
  });

  it('logitBias -100 bans every token the unbiased greedy output used', async () => {
    const free = await model.complete('Once upon a time', { temperature: 0, maxTokens: 8 });
    const banned = Object.fromEntries(free.tokenIds.map((id) => [id, -100]));
    const biased = await model.complete('Once upon a time', { temperature: 0, maxTokens: 8, logitBias: banned });
    expect(biased.tokenIds).toHaveLength(8);
    expect(biased.tokenIds.filter((id) => free.tokenIds.includes(id))).toEqual([]);
  });

  it('a bad spec is an InvalidRequestError before anything runs', async () => {
    await expect(model.complete('Once', { grammar: 'root ::= nope' })).rejects.toThrow(InvalidRequestError);
    await expect(model.complete('Once', { responseFormat: { type: 'json_object' }, grammar: 'root ::= "a"' })).rejects.toThrow(/at most one/);
    await expect(model.complete('Once', { logitBias: { 99999: 1 } })).rejects.toThrow(/not a token id/);
  });
});

describe('TypeScript API: chat with tools', () => {
  const tools = [{ name: 'count_words', description: 'Counts words', parameters: schema }];

  it("toolChoice 'required' returns a call whose arguments validate; 'none' and no tools return content", async () => {
    const validate = new Ajv().compile(schema);
    for (let seed = 0; seed < 5; seed++) {
      const result = await chat(model, [{ role: 'user', content: 'Count.' }], { tools, toolChoice: 'required', parallelToolCalls: false, seed, maxTokens: 120 });
      expect(result.finishReason).toBe('tool_calls');
      expect(result.toolCalls).toHaveLength(1);
      expect(result.toolCalls![0]!.name).toBe('count_words');
      expect(result.toolCalls![0]!.id).toMatch(/^call_/);
      expect(validate(JSON.parse(result.toolCalls![0]!.arguments))).toBe(true);
    }
    const none = await chat(model, [{ role: 'user', content: 'Hi' }], { tools, toolChoice: 'none', maxTokens: 5, seed: 1 });
    expect(none.toolCalls).toBeUndefined();
    await expect(chat(model, [{ role: 'user', content: 'Hi' }], { tools, toolChoice: { name: 'missing' } })).rejects.toThrow(InvalidRequestError);
  });
});

describe('TypeScript API: one chat session with tools (model.chat)', () => {
  const tools = [{ name: 'count_words', description: 'Counts words', parameters: schema }];

  it('keeps tool calls and tool results in the history, and renders them into the next turn', async () => {
    const validate = new Ajv().compile(schema);
    const session = model.chat();
    const turn = await session.send({ role: 'user', content: 'Count.' }, { tools, toolChoice: { name: 'count_words' }, seed: 3, maxTokens: 120 });
    expect(turn.finishReason).toBe('tool_calls');
    const call = turn.toolCalls![0]!;
    expect(validate(JSON.parse(call.arguments))).toBe(true);
    expect(session.history).toEqual([{ role: 'user', content: 'Count.' }, { role: 'assistant', content: '', toolCalls: turn.toolCalls }]);

    const result: ChatMessage = { role: 'tool', toolCallId: call.id, content: 'three' };
    const rendered = session.chatTemplate.render([...session.history, result], true, { tools: tools.map((t) => ({ ...t, parameters: t.parameters })), isForced: false });
    // the generic family (stories260K's fallback template): the call as the JSON the model was asked for, the result as a user turn
    expect(rendered).toContain(`{"tool_calls":[{"name":"count_words","arguments":${call.arguments}}]}`);
    expect(rendered).toContain(`Tool result (${call.id}): three`);
    const answer = await session.send(result, { tools, toolChoice: 'none', temperature: 0, maxTokens: 12 });
    expect(answer.toolCalls).toBeUndefined();
    const expected = await model.complete(session.chatTemplate.render([...session.history.slice(0, 3)]), { temperature: 0, maxTokens: 12, parseSpecial: true, stop: ['\nUser:'] });
    expect(answer.content).toBe(expected.text);
    expect(session.history.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
  });

  it('chat() is the same turn as a session started with the messages', async () => {
    const messages = [{ role: 'user', content: 'Count.' }];
    const options = { tools, toolChoice: 'required' as const, parallelToolCalls: false, seed: 6, maxTokens: 200 };
    const oneShot = await chat(model, messages, options);
    const session = await model.chat({ messages }).send([], options);
    expect({ ...oneShot, toolCalls: oneShot.toolCalls?.map((c) => ({ ...c, id: '' })) }).toEqual({ ...session, toolCalls: session.toolCalls?.map((c) => ({ ...c, id: '' })) });
    expect(oneShot.toolCalls).toHaveLength(1);
  });

  it('responseFormat per turn; a forced call with a responseFormat is refused', async () => {
    const session = model.chat();
    const turn = await session.send({ role: 'user', content: 'Hi' }, { responseFormat: { type: 'json_schema', schema }, seed: 2, maxTokens: 100 });
    expect(new Ajv().compile(schema)(JSON.parse(turn.content))).toBe(true);
    await expect(session.send({ role: 'user', content: 'Hi' }, { tools, toolChoice: 'required', responseFormat: { type: 'json_object' } })).rejects.toThrow(InvalidRequestError);
    expect(session.history).toHaveLength(2);
  });

  it("runs README's tools snippet", async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const code = /<!-- readme-snippet: tools[^>]*-->\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    const run = new Function('model', 'console', `return (async () => {\n${code}\nreturn { turn, answer, session };\n})();`) as (
      m: LoadedModel,
      c: Pick<Console, 'log'>,
    ) => Promise<{ turn: Awaited<ReturnType<ChatSession['send']>>; answer: Awaited<ReturnType<ChatSession['send']>>; session: ChatSession }>;
    const logged: unknown[][] = [];
    const { turn, session } = await run(model, { log: (...args: unknown[]) => logged.push(args) });
    expect(turn.finishReason).toBe('tool_calls');
    expect(typeof JSON.parse(turn.toolCalls![0]!.arguments).city).toBe('string');
    expect(session.history.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    expect(session.history[2]).toMatchObject({ role: 'tool', toolCallId: turn.toolCalls![0]!.id });
    expect(logged).toHaveLength(1);
  });
});
