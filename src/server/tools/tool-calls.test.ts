import { describe, expect, it } from 'vitest';
import { MetadataReader } from '../../formats/gguf/index.js';
import { createConstraintCompiler } from '../../grammar/index.js';
import { buildSpmVocab } from '../../testing/synthetic-vocab.js';
import { createTokenizer } from '../../tokenizer/tokenizer.js';
import { ChatTemplate } from '../chat-completions/chat-template.js';
import { couldBeToolCall, detectToolFamily, forcedToolCall, parseToolCalls, type ToolFamily } from './tool-call-format.js';
import { ToolCallOutput, toolCallDeltas } from './tool-call-output.js';
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
  hermes: ['It is sunny.', `<tool_call>\n{"name": "get_weather", "arguments": {"ci`, `<tool_call>{"name": "launch", "arguments": {}}</tool_call>`, `<tool_call>{"name": "noop"}</tool_call> and more text`],
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

  it('holds back only text that could begin a call', () => {
    expect(couldBeToolCall('hermes', '  <tool_')).toBe(true);
    expect(couldBeToolCall('hermes', 'Sure')).toBe(false);
    expect(couldBeToolCall('generic', '{"tool')).toBe(true);
    expect(couldBeToolCall('generic', 'Once')).toBe(false);
    expect(couldBeToolCall('mistral', '[{')).toBe(true);
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

  it('a stream passes plain text on at once, and holds back and parses what begins like a call', () => {
    const plain = new ToolCallOutput('generic', auto, '', true);
    expect(plain.push('It')).toBe('It');
    expect(plain.push(' is sunny')).toBe(' is sunny');
    expect(plain.finish()).toEqual({ content: '', toolCalls: undefined });

    const call = new ToolCallOutput('generic', auto, '', true);
    for (const piece of ['{"tool_calls": [{"name": "get_weather", ', '"arguments": {"city": "Paris"}}]}']) expect(call.push(piece)).toBe('');
    const { content, toolCalls } = call.finish();
    expect(content).toBe('');
    expect(toolCalls).toEqual([{ id: expect.stringMatching(/^call_[A-Za-z0-9]{24}$/), type: 'function', function: { name: 'get_weather', arguments: ARGS } }]);
  });

  it('broken JSON held back comes out as content, never as a tool call', () => {
    const output = new ToolCallOutput('generic', auto, '', true);
    expect(output.push('{"tool_calls": [{"name": "get_weather", "argu')).toBe('');
    expect(output.finish()).toEqual({ content: '{"tool_calls": [{"name": "get_weather", "argu', toolCalls: undefined });
  });

  it('one call only when parallel_tool_calls is false', () => {
    const output = new ToolCallOutput('hermes', { ...auto, isParallel: false }, '', false);
    output.push(`<tool_call>{"name": "noop", "arguments": {}}</tool_call><tool_call>{"name": "noop", "arguments": {}}</tool_call>`);
    expect(output.finish().toolCalls).toHaveLength(1);
  });

  it('deltas: per call, index, id, type, name and empty arguments first, then argument pieces that join to the arguments', () => {
    const calls = [
      { id: 'call_a', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city":"Paris, the capital of France"}' } },
      { id: 'call_b', type: 'function' as const, function: { name: 'noop', arguments: '{}' } },
    ];
    const deltas = toolCallDeltas(calls, 16) as { tool_calls: { index: number; id?: string; type?: string; function: { name?: string; arguments: string } }[] }[];
    expect(deltas[0]).toEqual({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] });
    const first = deltas.filter((d) => d.tool_calls[0]!.index === 0).slice(1);
    expect(first.length).toBe(3);
    expect(first.every((d) => d.tool_calls[0]!.id === undefined && d.tool_calls[0]!.function.name === undefined)).toBe(true);
    expect(first.map((d) => d.tool_calls[0]!.function.arguments).join('')).toBe(calls[0]!.function.arguments);
    expect(deltas.at(-2)).toEqual({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'noop', arguments: '' } }] });
    expect(deltas.at(-1)).toEqual({ tool_calls: [{ index: 1, function: { arguments: '{}' } }] });
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
