import type { ConstraintSpec } from '../../grammar/token-constraint.js';
import type { JsonObject } from '../validation.js';
import type { ToolDefinition, ToolRequest } from './tool-request.js';

/**
 * How a model family writes tool calls, recognised from its chat template's text:
 * - llama3 (Llama 3.1+): a bare JSON object `{"name": ..., "parameters": {...}}` (after <|python_tag|>);
 * - hermes (Qwen 2.5+, Hermes, many fine-tunes): `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`, one block per call;
 * - mistral: `[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]`;
 * - generic, for templates that ignore tools: the tools are described in a system message and the
 *   model answers `{"tool_calls": [{"name": ..., "arguments": {...}}]}`.
 * Special-token markers (<|python_tag|>, [TOOL_CALLS]) do not reach the output text, so each parser
 * takes the JSON with or without its marker.
 */
export type ToolFamily = 'llama3' | 'hermes' | 'mistral' | 'generic';

export function detectToolFamily(templateSource: string): ToolFamily {
  if (templateSource.includes('<tool_call>')) return 'hermes';
  if (templateSource.includes('[TOOL_CALLS]')) return 'mistral';
  if (templateSource.includes('<|python_tag|>') || (templateSource.includes('<|start_header_id|>') && templateSource.includes('tools'))) return 'llama3';
  return 'generic';
}

/** A parsed call: `arguments` is a JSON object's text, as OpenAI sends it. */
export interface ParsedToolCall {
  readonly name: string;
  readonly arguments: string;
}

/** A turn that holds tool calls: `content` is the text before them ('' when none). */
export interface ParsedToolTurn {
  readonly content: string;
  readonly toolCalls: readonly ParsedToolCall[];
}

const HERMES_OPEN = '<tool_call>';
const HERMES_CLOSE = '</tool_call>';
const MISTRAL_MARKER = '[TOOL_CALLS]';
const LLAMA_MARKER = '<|python_tag|>';

/**
 * The output's tool calls, or undefined when it is not a complete, valid tool-call turn (then it is
 * plain content): every call must be JSON naming one of `tools`, with an object of arguments.
 */
export function parseToolCalls(family: ToolFamily, text: string, tools: readonly ToolDefinition[]): ParsedToolTurn | undefined {
  const names = new Set(tools.map((t) => t.name));
  switch (family) {
    case 'hermes':
      return parseHermes(text, names);
    case 'llama3': {
      const body = stripMarker(text.trim(), LLAMA_MARKER);
      return callsTurn('', parseJson(body), names, ['parameters', 'arguments']);
    }
    case 'mistral': {
      const at = text.indexOf(MISTRAL_MARKER);
      const content = at < 0 ? '' : text.slice(0, at).trim();
      const body = at < 0 ? text.trim() : text.slice(at + MISTRAL_MARKER.length).trim();
      return callsTurn(content, parseJson(body), names, ['arguments']);
    }
    case 'generic': {
      const value = parseJson(text.trim());
      if (!isJsonObject(value) || Object.keys(value).length !== 1) return undefined;
      return callsTurn('', value.tool_calls, names, ['arguments']);
    }
  }
}

function parseHermes(text: string, names: ReadonlySet<string>): ParsedToolTurn | undefined {
  const start = text.indexOf(HERMES_OPEN);
  if (start < 0) return undefined;
  const calls: unknown[] = [];
  let rest = text.slice(start);
  while (rest.startsWith(HERMES_OPEN)) {
    const end = rest.indexOf(HERMES_CLOSE);
    const body = rest.slice(HERMES_OPEN.length, end < 0 ? undefined : end);
    calls.push(parseJson(body.trim()));
    rest = end < 0 ? '' : rest.slice(end + HERMES_CLOSE.length).trimStart();
  }
  if (rest !== '') return undefined; // text after the calls: not a tool-call turn
  return callsTurn(text.slice(0, start).trim(), calls, names, ['arguments']);
}

/** `value` is one call object or an array of them */
function callsTurn(content: string, value: unknown, names: ReadonlySet<string>, argumentKeys: readonly string[]): ParsedToolTurn | undefined {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) return undefined;
  const toolCalls: ParsedToolCall[] = [];
  for (const call of list) {
    if (!isJsonObject(call) || typeof call.name !== 'string' || !names.has(call.name)) return undefined;
    const key = argumentKeys.find((k) => k in call);
    const args = key === undefined ? {} : call[key];
    if (!isJsonObject(args)) return undefined;
    toolCalls.push({ name: call.name, arguments: JSON.stringify(args) });
  }
  return { content, toolCalls };
}

/**
 * Whether an output that begins with `text` may still turn out to be a tool-call turn (a stream holds
 * it back meanwhile). Hermes calls may follow some content; a stream that has sent that content
 * already passes later calls on as text.
 */
export function couldBeToolCall(family: ToolFamily, text: string): boolean {
  const t = text.trimStart();
  if (t === '') return true;
  if (family === 'hermes') return t.startsWith(HERMES_OPEN) || HERMES_OPEN.startsWith(t);
  if (family === 'mistral') return t.startsWith('[') || t.startsWith('{') || MISTRAL_MARKER.startsWith(t);
  return t.startsWith('{') || (family === 'llama3' && (t.startsWith('[') || t.startsWith(LLAMA_MARKER) || LLAMA_MARKER.startsWith(t)));
}

/**
 * A forced call (tool_choice `required` or a named function) as a constraint: `prefix` is appended to
 * the prompt (the family's opening marker, so the output is the JSON alone) and `spec` constrains
 * the output to calls of `tools` whose arguments match their parameter schemas. Llama 3 and Hermes
 * make one call; Mistral and generic an array (one call unless `isParallel`).
 */
export function forcedToolCall(family: ToolFamily, tools: readonly ToolDefinition[], isParallel: boolean): { prefix: string; spec: ConstraintSpec } {
  const argumentKey = family === 'llama3' ? 'parameters' : 'arguments';
  // each tool's `$defs` move to the root, where their '#/$defs/...' refs now point
  const defs: JsonObject = {};
  const calls = tools.map((tool) => {
    const { $defs, ...parameters } = tool.parameters;
    if (typeof $defs === 'object' && $defs !== null) Object.assign(defs, $defs);
    return {
      type: 'object',
      properties: { name: { const: tool.name }, [argumentKey]: parameters },
      required: ['name', argumentKey],
      additionalProperties: false,
    };
  });
  const withDefs = (schema: JsonObject): JsonObject => (Object.keys(defs).length > 0 ? { ...schema, $defs: defs } : schema);
  const call: JsonObject = calls.length === 1 ? calls[0]! : { anyOf: calls };
  const array = { type: 'array', items: call, minItems: 1, ...(isParallel ? {} : { maxItems: 1 }) };
  switch (family) {
    case 'llama3':
      return { prefix: '', spec: { type: 'json_schema', schema: withDefs(call) } };
    case 'hermes':
      return { prefix: `${HERMES_OPEN}\n`, spec: { type: 'json_schema', schema: withDefs(call) } };
    case 'mistral':
      return { prefix: MISTRAL_MARKER, spec: { type: 'json_schema', schema: withDefs(array) } };
    case 'generic': {
      const schema = { type: 'object', properties: { tool_calls: array }, required: ['tool_calls'], additionalProperties: false };
      return { prefix: '', spec: { type: 'json_schema', schema: withDefs(schema) } };
    }
  }
}

/**
 * The forced call a request's tool_choice asks for, or undefined for `auto`: a named function is
 * called once; `required` may call several tools when parallel tool calls are allowed.
 */
export function forcedToolCallFor(family: ToolFamily, request: ToolRequest): { prefix: string; spec: ConstraintSpec } | undefined {
  const choice = request.choice;
  if (choice.type === 'function') return forcedToolCall(family, request.tools.filter((t) => t.name === choice.name), false);
  if (choice.type === 'required') return forcedToolCall(family, request.tools, request.isParallel);
  return undefined;
}

/**
 * The system text that offers tools to a model whose template ignores them (the generic family).
 * A forced call lists only the tools' names and descriptions: the grammar spells out each call's
 * shape token by token, and small contexts have no room for the schemas.
 */
export function genericToolsPrompt(tools: readonly ToolDefinition[], isForced = false): string {
  if (isForced) {
    const list = tools.map((t) => (t.description ? `${t.name} (${t.description})` : t.name)).join(', ');
    return `Call one of these tools: ${list}. Answer with only a JSON object: {"tool_calls": [{"name": ..., "arguments": {...}}]}.`;
  }
  const list = tools.map((t) => ({ name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.parameters }));
  return (
    `You can call these tools:\n${JSON.stringify(list)}\n` +
    `To call tools, answer with only a JSON object: {"tool_calls": [{"name": "<tool name>", "arguments": {<arguments>}}]}. ` +
    `Otherwise answer normally.`
  );
}

function stripMarker(text: string, marker: string): string {
  return text.startsWith(marker) ? text.slice(marker.length).trim() : text;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
