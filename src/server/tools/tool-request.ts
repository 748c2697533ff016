import { invalidParam } from '../http-error.js';
import { isObject, optionalBoolean, type JsonObject } from '../validation.js';

/** One function the model may call (OpenAI `tools[i].function`). */
export interface ToolDefinition {
  readonly name: string;
  readonly description: string | undefined;
  /** the arguments' JSON Schema (an object schema); `{ type: 'object' }` when the tool gave none */
  readonly parameters: JsonObject;
}

/** OpenAI `tool_choice`: `auto` lets the model choose, `required` forces some call, `function` forces that one. */
export type ToolChoice = { readonly type: 'auto' } | { readonly type: 'none' } | { readonly type: 'required' } | { readonly type: 'function'; readonly name: string };

/** Tools as a prompt offers them: `isForced` when tool_choice forces a call (the grammar then spells out its shape). */
export interface ToolOffer {
  readonly tools: readonly ToolDefinition[];
  readonly isForced: boolean;
}

/** The tool fields of a chat request; undefined when it offers no tools or `tool_choice` is `none`. */
export interface ToolRequest {
  readonly tools: readonly ToolDefinition[];
  readonly choice: Exclude<ToolChoice, { type: 'none' }>;
  /** whether the model may call several tools in one turn (OpenAI's default: true) */
  readonly isParallel: boolean;
}

const NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
export const MAX_TOOLS = 128;

/** `tools`, `tool_choice`, `parallel_tool_calls`, checked as OpenAI checks them (400s name the field). */
export function readToolRequest(body: JsonObject): ToolRequest | undefined {
  const tools = readTools(body.tools);
  const choice = readToolChoice(body.tool_choice, tools);
  const isParallel = optionalBoolean(body, 'parallel_tool_calls') ?? true;
  if (tools.length === 0 || choice.type === 'none') return undefined;
  return { tools, choice, isParallel };
}

function readTools(value: unknown): ToolDefinition[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidParam('tools', `'tools' must be an array`, 'invalid_type');
  if (value.length > MAX_TOOLS) throw invalidParam('tools', `'tools' may hold at most ${MAX_TOOLS} tools (got ${value.length})`);
  const names = new Set<string>();
  return value.map((tool: unknown, i) => {
    const param = `tools[${i}]`;
    if (!isObject(tool)) throw invalidParam(param, `'${param}' must be an object`, 'invalid_type');
    if (tool.type !== 'function') throw invalidParam(`${param}.type`, `'${param}.type' must be 'function'`, 'unsupported_value');
    const fn = tool.function;
    if (!isObject(fn)) throw invalidParam(`${param}.function`, `'${param}.function' must be an object`, 'invalid_type');
    if (typeof fn.name !== 'string' || !NAME_PATTERN.test(fn.name)) {
      throw invalidParam(`${param}.function.name`, `'${param}.function.name' must be 1 to 64 letters, digits, '_' or '-'`);
    }
    if (names.has(fn.name)) throw invalidParam(`${param}.function.name`, `tool name '${fn.name}' is given twice`);
    names.add(fn.name);
    if (fn.description !== undefined && fn.description !== null && typeof fn.description !== 'string') {
      throw invalidParam(`${param}.function.description`, `'${param}.function.description' must be a string`, 'invalid_type');
    }
    const parameters = fn.parameters ?? { type: 'object' };
    if (!isObject(parameters)) {
      throw invalidParam(`${param}.function.parameters`, `'${param}.function.parameters' must be a JSON Schema object`, 'invalid_type');
    }
    return { name: fn.name, description: typeof fn.description === 'string' ? fn.description : undefined, parameters };
  });
}

function readToolChoice(value: unknown, tools: readonly ToolDefinition[]): ToolChoice {
  if (value === undefined || value === null) return { type: 'auto' };
  if (value === 'auto' || value === 'none' || value === 'required') {
    if (value === 'required' && tools.length === 0) throw invalidParam('tool_choice', `'tool_choice' 'required' needs 'tools'`);
    return { type: value };
  }
  if (typeof value === 'string') throw invalidParam('tool_choice', `'tool_choice' must be 'auto', 'none', 'required' or a function`);
  if (!isObject(value) || value.type !== 'function' || !isObject(value.function) || typeof value.function.name !== 'string') {
    throw invalidParam('tool_choice', `'tool_choice' must be 'auto', 'none', 'required' or { "type": "function", "function": { "name": ... } }`, 'invalid_type');
  }
  const name = value.function.name;
  if (!tools.some((t) => t.name === name)) throw invalidParam('tool_choice', `'tool_choice' names '${name}', which is not in 'tools'`);
  return { type: 'function', name };
}
