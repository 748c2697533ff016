import { describe, expect, it } from 'vitest';
import { MetadataReader } from '../formats/gguf/index.js';
import { createConstraintCompiler } from '../grammar/index.js';
import { buildSpmVocab } from '../testing/synthetic-vocab.js';
import { createTokenizer } from '../tokenizer/tokenizer.js';
import { ChatTemplate } from './chat-template.js';
import { detectToolFamily, forcedToolCall, parseToolCalls, type ToolFamily } from './tool-call-format.js';
import { ToolCallOutput } from './tool-call-output.js';
import type { ToolDefinition, ToolRequest } from './tool-request.js';

const weather: ToolDefinition = {
  name: 'get_weather',
  description: 'Weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const tools = [weather, { name: 'noop', description: undefined, parameters: { type: 'object' } }];
const ARGS = '{"city":"Paris"}';

/** the same two calls in each family's syntax (markers that are special tokens may be missing from the text) */
const COMPLETE: Record<ToolFamily, string[]> = {
  llama3: [`{"name": "get_weather", "parameters": {"city": "Paris"}}`, `<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}`],
  hermes: [`<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>`, `<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}`],
  mistral: [`[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]`, `[{"name": "get_weather", "arguments": {"city": "Paris"}}]`],
  generic: [`{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}`, ` {"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}\n`],
};

/** outputs that are not tool calls: plain text, broken or cut-off JSON, an unknown tool, arguments that are not an object */
const NOT_CALLS: Record<ToolFamily, string[]> = {
  llama3: ['It is sunny.', `{"name": "get_weather", "parameters": {"city": "Par`, `{"name": "launch", "parameters": {}}`, `{"name": "get_weather", "parameters": "Paris"}`],
  hermes: ['It is sunny.', `<tool_call>\n{"name": "get_weather", "arguments": {"ci`, `<tool_call>{"name": "launch", "arguments": {}}</tool_call>`, `<tool_call>{"name": "noop", "arguments": []}</tool_call>`],
  mistral: ['It is sunny.', `[TOOL_CALLS][{"name": "get_weather", "arguments": {"city"`, `[{"name": "launch", "arguments": {}}]`, '[]'],
  generic: ['It is sunny.', `{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Par`, `{"tool_calls": [{"name": "launch", "arguments": {}}]}`, `{"city": "Paris"}`],
};

describe('tool-call parsing per family', () => {
  it.each(Object.keys(COMPLETE) as ToolFamily[])('%s: complete calls parse to name and arguments text', (family) => {
    for (const text of COMPLETE[family]) {
      expect(parseToolCalls(family, text, tools)).toEqual({ content: '', toolCalls: [{ name: 'get_weather', arguments: ARGS }] });
    }
  });

  it.each(Object.keys(NOT_CALLS) as ToolFamily[])('%s: partial, broken or unknown calls are not tool calls', (family) => {
    for (const text of NOT_CALLS[family]) expect(parseToolCalls(family, text, tools)).toBeUndefined();
  });

  it('hermes: content before the calls is kept, and several calls parse in order', () => {
    const text = `Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "noop", "arguments": {}}\n</tool_call>`;
    expect(parseToolCalls('hermes', text, tools)).toEqual({
      content: 'Let me check.',
      toolCalls: [
        { name: 'get_weather', arguments: ARGS },
        { name: 'noop', arguments: '{}' },
      ],
    });
  });

  it('detects the family from the template text', () => {
    expect(detectToolFamily('{% for m in messages %}<tool_call>{% endfor %}')).toBe('hermes');
    expect(detectToolFamily('[AVAILABLE_TOOLS]{{ tools }}[TOOL_CALLS]')).toBe('mistral');
    expect(detectToolFamily('<|start_header_id|>ipython<|end_header_id|>{% if tools %}<|python_tag|>{% endif %}')).toBe('llama3');
    expect(detectToolFamily('{% for m in messages %}{{ m.content }}{% endfor %}')).toBe('generic');
  });
});

describe('forced tool calls', () => {
  const tokenizer = createTokenizer(new MetadataReader(new Map(Object.entries(buildSpmVocab(512, 0).metadata)), 'test'));
  const compiler = createConstraintCompiler(tokenizer);

  it.each(['llama3', 'hermes', 'mistral', 'generic'] as const)('%s: the spec compiles, and its prefix plus a complete call parses', (family) => {
    const { prefix, spec } = forcedToolCall(family, tools, false);
    expect(() => compiler.compile(spec)).not.toThrow();
    const body = COMPLETE[family][0]!.replace('<tool_call>\n', '').replace('[TOOL_CALLS]', '');
    expect(parseToolCalls(family, prefix + body, tools)?.toolCalls).toEqual([{ name: 'get_weather', arguments: ARGS }]);
  });

  it("moves the tools' $defs to the root of the schema", () => {
    const withRef: ToolDefinition = { name: 'f', description: undefined, parameters: { type: 'object', properties: { p: { $ref: '#/$defs/P' } }, $defs: { P: { type: 'integer' } } } };
    const { spec } = forcedToolCall('llama3', [withRef], false);
    expect(spec).toMatchObject({ type: 'json_schema', schema: { $defs: { P: { type: 'integer' } }, properties: { parameters: { properties: { p: { $ref: '#/$defs/P' } } } } } });
    expect(() => compiler.compile(spec)).not.toThrow();
  });
});

describe('ToolCallOutput and stream deltas', () => {
  const auto: ToolRequest = { tools, choice: { type: 'auto' }, isParallel: true };
  const required: ToolRequest = { tools, choice: { type: 'required' }, isParallel: false };
  const ID = expect.stringMatching(/^call_[A-Za-z0-9]{24}$/);

  it('a stream passes plain text on at once; an auto call goes out once it closed, with index, id, type and name first', () => {
    const plain = new ToolCallOutput('generic', auto, '', true);
    expect(plain.push('It')).toEqual([{ content: 'It' }]);
    expect(plain.push(' is sunny')).toEqual([{ content: ' is sunny' }]);
    expect(plain.finish()).toEqual([]);
    expect(plain.toolCalls).toBeUndefined();

    const call = new ToolCallOutput('generic', auto, '', true);
    expect(call.push('{"tool_calls": [{"name": "get_weather", ')).toEqual([]);
    expect(call.push('"arguments": {"city": ')).toEqual([]);
    const deltas = call.push('"Paris"}}]}');
    expect(deltas).toEqual([
      { tool_calls: [{ index: 0, id: ID, type: 'function', function: { name: 'get_weather', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] },
    ]);
    expect(call.finish()).toEqual([]);
    expect(call.content).toBe('');
    expect(call.toolCalls).toEqual([{ id: ID, type: 'function', function: { name: 'get_weather', arguments: ARGS } }]);
  });

  it('a streamed forced call goes out as it is written: the name first, then each piece of its arguments', () => {
    const output = new ToolCallOutput('hermes', required, '<tool_call>\n', true);
    expect(output.push('{"name": "get_weather", "arguments": {')).toEqual([
      { tool_calls: [{ index: 0, id: ID, type: 'function', function: { name: 'get_weather', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{' } }] },
    ]);
    expect(output.push('"city": "Pa')).toEqual([{ tool_calls: [{ index: 0, function: { arguments: '"city":"Pa' } }] }]);
    expect(output.push('ris"}}')).toEqual([{ tool_calls: [{ index: 0, function: { arguments: 'ris"}' } }] }]);
    expect(output.finish()).toEqual([]);
    expect(output.toolCalls![0]!.function.arguments).toBe(ARGS);
  });

  it('broken JSON held back comes out as content, never as a tool call', () => {
    const output = new ToolCallOutput('generic', auto, '', true);
    expect(output.push('{"tool_calls": [{"name": "get_weather", "argu')).toEqual([]);
    expect(output.finish()).toEqual([{ content: '{"tool_calls": [{"name": "get_weather", "argu' }]);
    expect(output.toolCalls).toBeUndefined();
  });

  it('one call only when parallel_tool_calls is false', () => {
    const output = new ToolCallOutput('hermes', { ...auto, isParallel: false }, '', false);
    output.push(`<tool_call>{"name": "noop", "arguments": {}}</tool_call><tool_call>{"name": "noop", "arguments": {}}</tool_call>`);
    output.finish();
    expect(output.toolCalls).toHaveLength(1);
  });
});

describe('chat templates with tools', () => {
  const tokenizer = createTokenizer(new MetadataReader(new Map(Object.entries(buildSpmVocab(512, 0).metadata)), 'test'));
  // Qwen 2.5's tool handling, cut down
  const HERMES =
    '{%- if tools %}<|im_start|>system\n<tools>{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}\n</tools><|im_end|>\n{%- endif %}' +
    "{%- for m in messages %}{%- if m.role == 'assistant' and m.tool_calls %}<|im_start|>assistant\n{%- for tc in m.tool_calls %}<tool_call>\n" +
    '{"name": "{{ tc.function.name }}", "arguments": {{ tc.function.arguments | tojson }}}\n</tool_call>{%- endfor %}<|im_end|>\n' +
    "{%- elif m.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ m.content }}\n</tool_response><|im_end|>\n" +
    '{%- else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endif %}{%- endfor %}<|im_start|>assistant\n';
  const history = [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: ARGS }] },
    { role: 'tool', content: 'sunny', toolCallId: 'call_1' },
  ];

  it('a tools-aware template gets tools, tool calls with object arguments, and tool results', () => {
    const template = ChatTemplate.fromSource(HERMES, tokenizer);
    expect(template.toolFamily).toBe('hermes');
    const text = template.render(history, true, { tools: [weather], isForced: false });
    expect(text).toContain('<tools>{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city"');
    expect(text).toContain('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>');
    expect(text).toContain('<tool_response>\nsunny\n</tool_response>');
  });

  it('a template that ignores tools gets them in a system message, calls as JSON and results as user turns', () => {
    const template = ChatTemplate.fromSource('{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}', tokenizer);
    expect(template.toolFamily).toBe('generic');
    const text = template.render(history, true, { tools: [weather], isForced: false });
    expect(text).toMatch(/^\[system\] You can call these tools:\n\[\{"name":"get_weather","description":"Weather in a city","parameters":/);
    expect(text).toContain('[assistant] {"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}\n');
    expect(text).toContain('[user] Tool result (call_1): sunny\n');
  });
});
