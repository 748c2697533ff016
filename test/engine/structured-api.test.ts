import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, InvalidRequestError, loadModel, type LoadedModel } from '../../src/api/index.js';
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
