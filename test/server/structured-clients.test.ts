import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateObject, streamObject, streamText, tool } from 'ai';
import { Ajv } from 'ajv';
import { zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';
import { createServingEngine } from '../../src/engine/async-engine.js';
import { loadModel } from '../../src/engine/loaded-model.js';
import type { ServingEngine } from '../../src/engine/serving-engine.js';
import { MODEL_NAME, startTestServer, type TestServer } from './helpers.js';

/**
 * Structured output and forced tool calls through unchanged clients (issue 21): the `openai` client's
 * chat.completions.parse with zodResponseFormat, the AI SDK's generateObject / streamObject, LangChain's
 * withStructuredOutput, and a tool_choice 'required' call, against the bundled stories260K model at
 * temperature 1. The tiny model writes near-random text; the grammar alone makes every answer valid.
 */
const NUM_SEEDS = 50;
const MAX_TOKENS = 160;
const seeds = Array.from({ length: NUM_SEEDS }, (_, i) => i);

// short strings and bounded numbers, so an answer fits MAX_TOKENS of a 512-token context
const Pet = z.object({
  name: z.string().max(12),
  age: z.number().int().min(0).max(30),
  kind: z.enum(['cat', 'dog', 'bird']),
  isHappy: z.boolean(),
});

let engine: ServingEngine;
let s: TestServer;
beforeAll(async () => {
  const model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 512, threads: 1 });
  engine = createServingEngine(model, { maxNumSeqs: 16 });
  s = await startTestServer(engine);
});
afterAll(async () => {
  await s.close();
  await engine.shutdown();
});

const messages = [{ role: 'user' as const, content: 'Tell me about a pet.' }];

describe('structured output through unchanged clients, 50 seeds each at temperature 1', () => {
  it('openai chat.completions.parse with zodResponseFormat, and the same streamed', async () => {
    const client = s.client();
    const responseFormat = zodResponseFormat(Pet, 'pet');
    const parsed = await Promise.all(
      seeds.map(async (seed) => {
        const completion = await client.chat.completions.parse({ model: MODEL_NAME, messages, response_format: responseFormat, seed, temperature: 1, max_tokens: MAX_TOKENS });
        return completion.choices[0]!.message.parsed;
      }),
    );
    const streamed = await Promise.all(
      seeds.map(async (seed) => {
        const stream = client.chat.completions.stream({ model: MODEL_NAME, messages, response_format: responseFormat, seed, temperature: 1, max_tokens: MAX_TOKENS });
        return (await stream.finalChatCompletion()).choices[0]!.message.parsed;
      }),
    );
    for (const pet of [...parsed, ...streamed]) expect(Pet.parse(pet)).toEqual(pet);
    // the same seed gives the same object, streamed or not
    expect(streamed).toEqual(parsed);
    expect(new Set(parsed.map((p) => JSON.stringify(p))).size).toBeGreaterThan(NUM_SEEDS / 2); // sampled, not one fixed answer
  });

  it('AI SDK generateObject and streamObject with a zod schema (the chat provider)', async () => {
    const model = createOpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: 'unused' }).chat(MODEL_NAME);
    const generated = await Promise.all(
      seeds.map(async (seed) => (await generateObject({ model, schema: Pet, prompt: messages[0]!.content, seed, temperature: 1, maxOutputTokens: MAX_TOKENS, maxRetries: 0 })).object),
    );
    const streamed = await Promise.all(
      seeds.map(async (seed) => {
        const result = streamObject({ model, schema: Pet, prompt: messages[0]!.content, seed, temperature: 1, maxOutputTokens: MAX_TOKENS, maxRetries: 0 });
        for await (const partial of result.partialObjectStream) expect(typeof partial).toBe('object'); // the stream must be read for `object` to settle
        return await result.object;
      }),
    );
    for (const pet of [...generated, ...streamed]) expect(Pet.parse(pet)).toEqual(pet);
  });

  it('LangChain withStructuredOutput, json schema and function calling (a forced named tool), invoked and streamed', async () => {
    const chat = (seed: number) =>
      new ChatOpenAI({ model: MODEL_NAME, apiKey: 'unused', configuration: { baseURL: `${s.baseUrl}/v1` }, temperature: 1, maxTokens: MAX_TOKENS, maxRetries: 0, modelKwargs: { seed } });
    // streamed through .stream() (a streaming model's invoke() estimates token counts with tiktoken, which it downloads: offline it retries for a minute)
    const lastOf = async <T>(stream: AsyncIterable<T>): Promise<T | undefined> => {
      let last: T | undefined;
      for await (const chunk of stream) last = chunk;
      return last;
    };
    const results = await Promise.all(
      seeds.flatMap((seed) =>
        (['jsonSchema', 'functionCalling'] as const).flatMap((method) => {
          const structured = chat(seed).withStructuredOutput(Pet, { name: 'pet', method });
          return [structured.invoke(messages[0]!.content), structured.stream(messages[0]!.content).then(lastOf)];
        }),
      ),
    );
    expect(results).toHaveLength(4 * NUM_SEEDS);
    for (const pet of results) expect(Pet.parse(pet)).toEqual(pet);
  });

  it("tool_choice 'required': every call names a tool and its arguments validate against that tool's schema (ajv), streamed and not", async () => {
    const weather = { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['c', 'f'] } }, required: ['city', 'unit'], additionalProperties: false };
    const alarm = { type: 'object', properties: { hour: { type: 'integer', minimum: 0, maximum: 23 } }, required: ['hour'], additionalProperties: false };
    const tools = [
      { type: 'function' as const, function: { name: 'get_weather', description: 'Weather in a city', parameters: weather } },
      { type: 'function' as const, function: { name: 'set_alarm', parameters: alarm } },
    ];
    const ajv = new Ajv();
    const validators = { get_weather: ajv.compile(weather), set_alarm: ajv.compile(alarm) };
    const client = s.client();
    const request = (seed: number) => ({ model: MODEL_NAME, messages, tools, tool_choice: 'required' as const, parallel_tool_calls: false, seed, temperature: 1, max_tokens: MAX_TOKENS });
    const plain = await Promise.all(seeds.map(async (seed) => (await client.chat.completions.create(request(seed))).choices[0]!));
    const streamed = await Promise.all(
      seeds.map(async (seed) => (await client.chat.completions.stream(request(seed)).finalChatCompletion()).choices[0]!),
    );
    for (const choice of [...plain, ...streamed]) {
      expect(choice.finish_reason).toBe('tool_calls');
      const calls = choice.message.tool_calls!;
      expect(calls).toHaveLength(1);
      const call = calls[0]!;
      expect(call.type).toBe('function');
      if (call.type !== 'function') continue;
      expect(call.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
      const validate = validators[call.function.name as keyof typeof validators];
      expect(validate).toBeDefined();
      expect(validate(JSON.parse(call.function.arguments))).toBe(true);
    }
    expect(new Set(plain.map((c) => c.message.tool_calls![0]!.type === 'function' && c.message.tool_calls![0]!.function.name)).size).toBe(2);
  });

  it('streamed forced calls arrive piece by piece: the openai stream helper and the AI SDK streamText with tools', async () => {
    const Weather = z.object({ city: z.string().max(20), unit: z.enum(['celsius', 'fahrenheit']), days: z.number().int().min(1).max(14) });
    const parameters = z.toJSONSchema(Weather, { target: 'draft-7' });
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather in a city', parameters } }];
    const client = s.client();
    const openaiRuns = await Promise.all(
      seeds.slice(0, 10).map(async (seed) => {
        const stream = client.chat.completions.stream({
          model: MODEL_NAME, messages, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, seed, temperature: 1, max_tokens: MAX_TOKENS,
        });
        let numDeltas = 0;
        let firstChunkMs = 0;
        let firstDeltaMs = 0;
        stream.on('chunk', () => (firstChunkMs ||= performance.now()));
        stream.on('tool_calls.function.arguments.delta', () => {
          numDeltas++;
          firstDeltaMs ||= performance.now();
        });
        const call = (await stream.finalChatCompletion()).choices[0]!.message.tool_calls![0]!;
        const endMs = performance.now();
        return { numDeltas, call, streamedShare: (endMs - firstDeltaMs) / (endMs - firstChunkMs) };
      }),
    );
    // live, not sent at the end: the arguments began arriving early in the generation (in the run's
    // first half, on average), not as it ended
    const meanShare = openaiRuns.reduce((sum, r) => sum + r.streamedShare, 0) / openaiRuns.length;
    expect(meanShare).toBeGreaterThan(0.5);
    for (const { numDeltas, call } of openaiRuns) {
      expect(call.type === 'function' && call.function.name).toBe('get_weather');
      if (call.type !== 'function') continue;
      // the arguments came as the model wrote them, a token or so per delta (stories260K's tokens are
      // a few characters), not cut into pieces once the call was complete
      expect(numDeltas).toBeGreaterThan(1);
      expect(call.function.arguments.length / numDeltas).toBeLessThan(8);
      expect(Weather.parse(JSON.parse(call.function.arguments))).toBeTypeOf('object');
    }

    const model = createOpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: 'unused' }).chat(MODEL_NAME);
    const sdkRuns = await Promise.all(
      seeds.slice(0, 10).map(async (seed) => {
        const result = streamText({
          model, prompt: messages[0]!.content, seed, temperature: 1, maxOutputTokens: MAX_TOKENS, maxRetries: 0,
          tools: { get_weather: tool({ description: 'Weather in a city', inputSchema: Weather }) },
          toolChoice: { type: 'tool', toolName: 'get_weather' },
        });
        let numDeltas = 0;
        let streamed = '';
        for await (const part of result.fullStream) {
          if (part.type === 'tool-input-delta') {
            numDeltas++;
            streamed += part.delta;
          }
        }
        return { numDeltas, streamed, calls: await result.toolCalls };
      }),
    );
    for (const { numDeltas, streamed, calls } of sdkRuns) {
      expect(numDeltas).toBeGreaterThan(1);
      expect(streamed.length / numDeltas).toBeLessThan(8);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.toolName).toBe('get_weather');
      expect(Weather.parse(calls[0]!.input)).toEqual(calls[0]!.input); // validated by the SDK against the zod schema too
      expect(JSON.parse(streamed)).toEqual(calls[0]!.input);
    }
  });
});
