import type { ChatMessage } from '../chat-completions/chat-template.js';
import { invalidParam } from '../http-error.js';
import { isObject, optionalBoolean, optionalNumber, optionalString, requireObject, type JsonObject } from '../validation.js';

/** POST /v1/responses (OpenAI's Responses API, text only), parsed and checked. */
export interface ResponsesRequest {
  readonly model: unknown;
  /** the conversation: `instructions` first (as a system turn), then `input` */
  readonly messages: ChatMessage[];
  readonly instructions: string | null;
  readonly maxOutputTokens: number | undefined;
  readonly temperature: number | undefined;
  readonly topP: number | undefined;
  readonly isStream: boolean;
  /** echoed in the response */
  readonly metadata: JsonObject;
  readonly user: string | null;
}

const ROLES = new Set(['user', 'assistant', 'system', 'developer']);
/** content part types whose `text` is read (input_text in any turn; output_text in assistant turns the client sends back) */
const TEXT_PARTS = new Set(['input_text', 'output_text']);

/**
 * Fields of the Responses API this server cannot honour: a request that sets one is refused with a
 * 400 naming it, rather than answered as if it were not there. An empty list (`tools: []`) or an
 * explicit default (`text.format.type: 'text'`, `truncation: 'disabled'`, `store: false`) is accepted.
 */
function checkUnsupported(body: JsonObject): void {
  const isSet = (key: string): boolean => body[key] !== undefined && body[key] !== null;
  const refuse = (key: string, why: string): never => {
    throw invalidParam(key, `'${key}' is not supported: ${why}`, 'unsupported_value');
  };
  if (isSet('previous_response_id')) refuse('previous_response_id', 'responses are not stored; send the earlier turns as input items');
  if (body.store === true) refuse('store', 'responses are not stored (send store: false, or leave it out, and carry the conversation in input items)');
  if (isSet('conversation')) refuse('conversation', 'conversations are not stored; send the earlier turns as input items');
  if (isSet('background') && body.background !== false) refuse('background', 'responses run in the foreground only');
  for (const key of ['tools', 'include']) {
    if (isSet(key) && !(Array.isArray(body[key]) && (body[key] as unknown[]).length === 0)) refuse(key, 'this server generates text only');
  }
  for (const key of ['tool_choice', 'reasoning', 'prompt', 'top_logprobs', 'max_tool_calls']) {
    if (isSet(key) && !(key === 'tool_choice' && body[key] === 'none')) refuse(key, 'this server generates text only');
  }
  if (isSet('truncation') && body.truncation !== 'disabled') refuse('truncation', "only 'disabled' is (a prompt that does not fit is a 400)");
  if (isSet('text')) {
    const text = requireObject(body.text, 'text');
    for (const key of Object.keys(text)) {
      if (key === 'format') {
        const format = text.format;
        if (format !== null && format !== undefined && !(isObject(format) && format.type === 'text')) {
          throw invalidParam('text.format', `'text.format' is not supported: only { "type": "text" } is`, 'unsupported_value');
        }
      } else if (text[key] !== null && text[key] !== undefined) {
        throw invalidParam(`text.${key}`, `'text.${key}' is not supported`, 'unsupported_value');
      }
    }
  }
}

export function parseResponsesRequest(raw: unknown): ResponsesRequest {
  const body = requireObject(raw, 'body');
  checkUnsupported(body);
  const instructions = optionalString(body, 'instructions') ?? null;
  const input = readInput(body.input);
  const metadata = body.metadata === undefined || body.metadata === null ? {} : requireObject(body.metadata, 'metadata');
  return {
    model: body.model,
    messages: instructions === null ? input : [{ role: 'system', content: instructions }, ...input],
    instructions,
    maxOutputTokens: optionalNumber(body, 'max_output_tokens', { min: 1, isInteger: true }),
    temperature: optionalNumber(body, 'temperature', { min: 0, max: 2 }),
    topP: optionalNumber(body, 'top_p', { above: 0, max: 1 }),
    isStream: optionalBoolean(body, 'stream') ?? false,
    metadata,
    user: optionalString(body, 'user') ?? null,
  };
}

/** `input`: a string (one user turn) or a non-empty array of message items. */
function readInput(value: unknown): ChatMessage[] {
  if (value === undefined || value === null) throw invalidParam('input', `'input' is required`, 'missing_required_parameter');
  if (typeof value === 'string') {
    if (value === '') throw invalidParam('input', `'input' must not be empty`);
    return [{ role: 'user', content: value }];
  }
  if (!Array.isArray(value)) throw invalidParam('input', `'input' must be a string or an array of input items`, 'invalid_type');
  if (value.length === 0) throw invalidParam('input', `'input' must not be empty`);
  return value.map((item: unknown, i) => readMessageItem(item, `input[${i}]`));
}

/** `{ type?: 'message', role, content }`; other item types (function calls, item references, reasoning) are refused. */
function readMessageItem(item: unknown, param: string): ChatMessage {
  if (!isObject(item)) throw invalidParam(param, `'${param}' must be an object`, 'invalid_type');
  if (item.type !== undefined && item.type !== 'message') {
    throw invalidParam(`${param}.type`, `'${param}.type' must be 'message': other input items (function calls, item references, reasoning) are not supported`, 'unsupported_value');
  }
  if (typeof item.role !== 'string' || !ROLES.has(item.role)) {
    throw invalidParam(`${param}.role`, `'${param}.role' must be one of ${[...ROLES].join(', ')}`);
  }
  const role = item.role === 'developer' ? 'system' : item.role;
  return { role, content: readContent(item.content, `${param}.content`) };
}

/** A string, or an array of `input_text` / `output_text` parts (joined). */
function readContent(value: unknown, param: string): string {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) throw invalidParam(param, `'${param}' must be a string or an array of content parts`, 'invalid_type');
  return value
    .map((part: unknown, j) => {
      const partParam = `${param}[${j}]`;
      if (!isObject(part) || typeof part.type !== 'string') throw invalidParam(partParam, `'${partParam}' must be a content part object`, 'invalid_type');
      if (!TEXT_PARTS.has(part.type)) {
        throw invalidParam(`${partParam}.type`, `'${partParam}.type' must be input_text or output_text: this server takes text only`, 'unsupported_value');
      }
      if (typeof part.text !== 'string') throw invalidParam(`${partParam}.text`, `'${partParam}.text' must be a string`, 'invalid_type');
      return part.text;
    })
    .join('');
}
