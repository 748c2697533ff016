import { invalidParam } from '../http-error.js';
import type { ChatMessage, ChatToolCall } from './chat-template.js';
import { readRequestConstraint, type RequestConstraint } from '../structured-output.js';
import { readToolRequest, type ToolRequest } from '../tools/tool-request.js';
import { isObject, optionalBoolean, optionalNumber, readSamplingFields, requireObject, type SamplingFields } from '../validation.js';

/** POST /v1/chat/completions, parsed and checked. */
export interface ChatCompletionRequest extends SamplingFields {
  readonly model: unknown;
  readonly messages: ChatMessage[];
  /** top alternatives per token (0..20) when logprobs are on; undefined = off */
  readonly numLogprobs: number | undefined;
  /** response_format or a grammar extension field */
  readonly constraint: RequestConstraint | undefined;
  /** tools offered to the model; undefined when none are (or tool_choice is 'none') */
  readonly tools: ToolRequest | undefined;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

export function parseChatCompletionRequest(raw: unknown): ChatCompletionRequest {
  const body = requireObject(raw, 'body');
  const isLogprobs = optionalBoolean(body, 'logprobs') ?? false;
  const numTopLogprobs = optionalNumber(body, 'top_logprobs', { min: 0, max: 20, isInteger: true });
  if (numTopLogprobs !== undefined && !isLogprobs) {
    throw invalidParam('top_logprobs', `'top_logprobs' requires 'logprobs: true'`);
  }
  if (body.functions !== undefined && body.functions !== null) {
    throw invalidParam('functions', `'functions' is not supported; use 'tools'`, 'unsupported_value');
  }
  const constraint = readRequestConstraint(body);
  const tools = readToolRequest(body);
  if (constraint && tools && tools.choice.type !== 'auto') {
    throw invalidParam(constraint.param, `'${constraint.param}' cannot be combined with a forced 'tool_choice'`);
  }
  return {
    model: body.model,
    messages: readMessages(body.messages),
    constraint,
    tools,
    numLogprobs: isLogprobs ? (numTopLogprobs ?? 0) : undefined,
    ...readSamplingFields(body, 'max_completion_tokens'),
  };
}

function readMessages(value: unknown): ChatMessage[] {
  if (value === undefined || value === null) throw invalidParam('messages', `'messages' is required`, 'missing_required_parameter');
  if (!Array.isArray(value)) throw invalidParam('messages', `'messages' must be an array`, 'invalid_type');
  if (value.length === 0) throw invalidParam('messages', `'messages' must not be empty`);
  return value.map((message: unknown, i) => {
    const param = `messages[${i}]`;
    if (!isObject(message)) throw invalidParam(param, `'${param}' must be an object`, 'invalid_type');
    if (typeof message.role !== 'string' || !ROLES.has(message.role)) {
      throw invalidParam(`${param}.role`, `'${param}.role' must be one of ${[...ROLES].join(', ')}`);
    }
    const role = message.role === 'developer' ? 'system' : message.role;
    const hasToolCalls = role === 'assistant' && message.tool_calls !== undefined && message.tool_calls !== null;
    const content = readContent(message.content, `${param}.content`, role);
    if (hasToolCalls) return { role, content, toolCalls: readToolCalls(message.tool_calls, `${param}.tool_calls`) };
    if (role === 'tool') {
      if (typeof message.tool_call_id !== 'string') {
        throw invalidParam(`${param}.tool_call_id`, `'${param}.tool_call_id' is required for a tool message`, 'missing_required_parameter');
      }
      return { role, content, toolCallId: message.tool_call_id, ...(typeof message.name === 'string' ? { name: message.name } : {}) };
    }
    return { role, content };
  });
}

/** an assistant turn's `tool_calls`: [{ id, type: 'function', function: { name, arguments } }] */
function readToolCalls(value: unknown, param: string): ChatToolCall[] {
  if (!Array.isArray(value)) throw invalidParam(param, `'${param}' must be an array`, 'invalid_type');
  return value.map((call: unknown, i) => {
    const p = `${param}[${i}]`;
    if (!isObject(call) || !isObject(call.function)) throw invalidParam(p, `'${p}' must be { "id", "type": "function", "function": { "name", "arguments" } }`, 'invalid_type');
    const { name, arguments: args } = call.function;
    if (typeof name !== 'string') throw invalidParam(`${p}.function.name`, `'${p}.function.name' must be a string`, 'invalid_type');
    if (typeof args !== 'string') throw invalidParam(`${p}.function.arguments`, `'${p}.function.arguments' must be a string`, 'invalid_type');
    return { id: typeof call.id === 'string' ? call.id : `call_${i}`, name, arguments: args };
  });
}

/** A string, or an array of `{ type: 'text', text }` parts (joined); null only for assistant turns. */
function readContent(value: unknown, param: string, role: string): string {
  if (typeof value === 'string') return value;
  if ((value === null || value === undefined) && role === 'assistant') return '';
  if (!Array.isArray(value)) throw invalidParam(param, `'${param}' must be a string or an array of text parts`, 'invalid_type');
  return value
    .map((part: unknown, j) => {
      if (!isObject(part) || part.type !== 'text' || typeof part.text !== 'string') {
        throw invalidParam(`${param}[${j}]`, `'${param}[${j}]' must be a text part ({ "type": "text", "text": "..." })`, 'invalid_type');
      }
      return part.text;
    })
    .join('');
}
