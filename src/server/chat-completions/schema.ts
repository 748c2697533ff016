import { invalidParam } from '../http-error.js';
import type { ChatMessage } from './chat-template.js';
import { isObject, optionalBoolean, optionalNumber, readSamplingFields, requireObject, type SamplingFields } from '../validation.js';

/** POST /v1/chat/completions, parsed and checked. */
export interface ChatCompletionRequest extends SamplingFields {
  readonly model: unknown;
  readonly messages: ChatMessage[];
  /** top alternatives per token (0..20) when logprobs are on; undefined = off */
  readonly numLogprobs: number | undefined;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

export function parseChatCompletionRequest(raw: unknown): ChatCompletionRequest {
  const body = requireObject(raw, 'body');
  const isLogprobs = optionalBoolean(body, 'logprobs') ?? false;
  const numTopLogprobs = optionalNumber(body, 'top_logprobs', { min: 0, max: 20, isInteger: true });
  if (numTopLogprobs !== undefined && !isLogprobs) {
    throw invalidParam('top_logprobs', `'top_logprobs' requires 'logprobs: true'`);
  }
  for (const key of ['tools', 'functions', 'response_format'] as const) {
    if (body[key] !== undefined && body[key] !== null) throw invalidParam(key, `'${key}' is not supported`, 'unsupported_value');
  }
  return {
    model: body.model,
    messages: readMessages(body.messages),
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
    return { role, content: readContent(message.content, `${param}.content`, role) };
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
