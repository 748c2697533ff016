import { z } from 'zod';
import type { ChatMessage } from '../../chat/chat-template.js';
import { PARAM } from '../../validation/field-issue.js';
import { isObject, optional, optionalNumber, optionalString, refuse, stringField, withDefault, booleanField, type JsonObject } from '../../validation/request-fields.js';

const ROLES = ['user', 'assistant', 'system', 'developer'] as const;

/** content parts whose `text` is read: input_text in any turn; output_text in assistant turns the client sends back */
const textPart = z.discriminatedUnion(
  'type',
  [z.object({ type: z.literal('input_text'), text: stringField() }), z.object({ type: z.literal('output_text'), text: stringField() })],
  {
    error: (iss) => (isObject(iss.input) ? `'${PARAM}' must be input_text or output_text: this server takes text only` : `'${PARAM}' must be a content part object`),
  },
);

/** `{ type?: 'message', role, content }`; other item types (function calls, item references, reasoning) are refused. */
const messageItem = z.object(
  {
    type: optional(z.literal('message', { error: `'${PARAM}' must be 'message': other input items (function calls, item references, reasoning) are not supported` })),
    role: z.enum(ROLES, { error: `'${PARAM}' must be one of ${ROLES.join(', ')}` }),
    content: z.union([z.string(), z.array(textPart)], { error: `'${PARAM}' must be a string or an array of content parts` }),
  },
  { error: `'${PARAM}' must be an object` },
);

/** `input`: a string (one user turn) or a non-empty array of message items. */
const inputField = z.union(
  [z.string().min(1, { error: `'${PARAM}' must not be empty` }), z.array(messageItem).min(1, { error: `'${PARAM}' must not be empty` })],
  { error: `'${PARAM}' must be a string or an array of input items` },
);

/** a field of the Responses API this server cannot honour (refused when set; see refineUnsupported) */
const unsupported = () => optional(z.unknown());

/**
 * POST /v1/responses (OpenAI's Responses API, text only). Unknown fields are ignored; the known ones
 * this server cannot honour are refused with a 400 naming them, rather than answered as if they were
 * not there. An empty list (`tools: []`) or an explicit default (`text.format.type: 'text'`,
 * `truncation: 'disabled'`, `store: false`) is accepted.
 */
const responsesFields = z.object({
    model: optionalString(),
    input: inputField,
    instructions: optionalString(),
    max_output_tokens: optionalNumber({ min: 1, isInteger: true }),
    temperature: optionalNumber({ min: 0, max: 2 }),
    top_p: optionalNumber({ above: 0, max: 1 }),
    stream: withDefault(booleanField(), false),
    /** echoed in the response */
    metadata: withDefault(z.record(z.string(), z.unknown(), { error: `'${PARAM}' must be a JSON object` }), {}),
    user: optionalString(),
    store: optional(z.boolean()),
    background: optional(z.boolean()),
    truncation: optional(z.string()),
    text: optional(z.record(z.string(), z.unknown(), { error: `'${PARAM}' must be a JSON object` })),
    previous_response_id: unsupported(),
    conversation: unsupported(),
    tools: unsupported(),
    include: unsupported(),
    tool_choice: unsupported(),
    reasoning: unsupported(),
    prompt: unsupported(),
    top_logprobs: unsupported(),
    max_tool_calls: unsupported(),
  });

export const responsesBody = responsesFields
  .superRefine(refineUnsupported)
  .transform((body) => {
    const input: ChatMessage[] = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : body.input.map(toChatMessage);
    const instructions = body.instructions ?? null;
    return {
      model: body.model,
      /** the conversation: `instructions` first (as a system turn), then `input` */
      messages: instructions === null ? input : [{ role: 'system', content: instructions }, ...input],
      instructions,
      maxOutputTokens: body.max_output_tokens,
      temperature: body.temperature,
      topP: body.top_p,
      isStream: body.stream,
      metadata: body.metadata as JsonObject,
      user: body.user ?? null,
    };
  });

export type ResponsesRequest = z.output<typeof responsesBody>;

type ResponsesBody = z.output<typeof responsesFields>;

function refineUnsupported(body: ResponsesBody, ctx: z.RefinementCtx): void {
  const isSet = (key: keyof ResponsesBody): boolean => body[key] !== undefined && body[key] !== null;
  const refuseField = (key: string, why: string): void => refuse(ctx, [key], `'${key}' is not supported: ${why}`, 'unsupported_value');
  if (isSet('previous_response_id')) refuseField('previous_response_id', 'responses are not stored; send the earlier turns as input items');
  if (body.store === true) refuseField('store', 'responses are not stored (send store: false, or leave it out, and carry the conversation in input items)');
  if (isSet('conversation')) refuseField('conversation', 'conversations are not stored; send the earlier turns as input items');
  if (body.background === true) refuseField('background', 'responses run in the foreground only');
  for (const key of ['tools', 'include'] as const) {
    if (isSet(key) && !(Array.isArray(body[key]) && (body[key] as unknown[]).length === 0)) refuseField(key, 'this server generates text only');
  }
  for (const key of ['tool_choice', 'reasoning', 'prompt', 'top_logprobs', 'max_tool_calls'] as const) {
    if (isSet(key) && !(key === 'tool_choice' && body[key] === 'none')) refuseField(key, 'this server generates text only');
  }
  if (isSet('truncation') && body.truncation !== 'disabled') refuseField('truncation', "only 'disabled' is (a prompt that does not fit is a 400)");
  for (const [key, value] of Object.entries(body.text ?? {})) {
    if (value === null || value === undefined) continue;
    if (key !== 'format') refuse(ctx, ['text', key], `'text.${key}' is not supported`, 'unsupported_value');
    else if (!(isObject(value) && value.type === 'text')) refuse(ctx, ['text', 'format'], `'text.format' is not supported: only { "type": "text" } is`, 'unsupported_value');
  }
}

function toChatMessage(item: z.output<typeof messageItem>): ChatMessage {
  const role = item.role === 'developer' ? 'system' : item.role;
  return { role, content: typeof item.content === 'string' ? item.content : item.content.map((part) => part.text).join('') };
}
