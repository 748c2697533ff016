import { z } from 'zod';
import type { ChatMessage } from '../../chat/chat-template.js';
import { PARAM } from '../../validation/field-issue.js';
import { isObject, optional, optionalBoolean, optionalNumber, optionalString, refuse, stringField } from '../../validation/request-fields.js';
import { MAX_COMPLETION_TOKENS_SHAPE, refineSampling, SAMPLING_SHAPE, toSamplingFields } from '../sampling-fields.js';
import { CONSTRAINT_SHAPE, refineConstraint, toRequestConstraint } from '../structured-output.js';
import { refineTools, TOOL_SHAPE, toToolRequest } from '../../chat/tool-request.js';

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool'] as const;

const textPart = z.object({ type: z.literal('text'), text: stringField() });

/** A string, or an array of `{ type: 'text', text }` parts (joined); null only in assistant turns. */
const content = z.union([
  z.string(),
  z.array(
    z.discriminatedUnion('type', [textPart], {
      error: (iss) => (isObject(iss.input) ? `'${PARAM}' must be 'text': this server takes text parts only` : `'${PARAM}' must be a text part ({ "type": "text", "text": "..." })`),
    }),
  ),
  z.null(),
], { error: `'${PARAM}' must be a string or an array of text parts` });

/** an assistant turn's call: { id, type: 'function', function: { name, arguments } } */
const toolCall = z.object(
  {
    id: optionalString(),
    function: z.object({ name: stringField(), arguments: stringField() }, { error: `'${PARAM}' must be { "name", "arguments" }` }),
  },
  { error: `'${PARAM}' must be { "id", "type": "function", "function": { "name", "arguments" } }` },
);

const message = z.object(
  {
    role: z.enum(ROLES, { error: `'${PARAM}' must be one of ${ROLES.join(', ')}` }),
    content: content.optional(),
    tool_calls: optional(z.array(toolCall, { error: `'${PARAM}' must be an array` })),
    /** a `tool` turn: the call it answers */
    tool_call_id: optionalString(),
    name: optionalString(),
  },
  { error: `'${PARAM}' must be an object` },
);

type WireMessage = z.output<typeof message>;

/** POST /v1/chat/completions. Unknown fields are ignored; `functions` (the pre-tools API) is refused. */
export const chatCompletionBody = z
  .object({
    model: optionalString(),
    messages: z.array(message, { error: `'${PARAM}' must be an array` }).min(1, { error: `'${PARAM}' must not be empty` }),
    logprobs: optionalBoolean(),
    /** top alternatives per token (0..20) when logprobs are on */
    top_logprobs: optionalNumber({ min: 0, max: 20, isInteger: true }),
    functions: optional(z.unknown()),
    ...SAMPLING_SHAPE,
    ...MAX_COMPLETION_TOKENS_SHAPE,
    ...CONSTRAINT_SHAPE,
    ...TOOL_SHAPE,
  })
  .superRefine((body, ctx) => {
    body.messages.forEach((m, i) => refineMessage(m, i, ctx));
    if (body.top_logprobs !== undefined && body.logprobs !== true) refuse(ctx, ['top_logprobs'], `'top_logprobs' requires 'logprobs: true'`);
    if (body.functions !== undefined) refuse(ctx, ['functions'], `'functions' is not supported; use 'tools'`, 'unsupported_value');
    refineSampling(body, ctx);
    refineConstraint(body, ctx);
    refineTools(body, ctx);
    const constraint = toRequestConstraint(body);
    const tools = toToolRequest(body);
    if (constraint && tools && tools.choice.type !== 'auto') {
      refuse(ctx, [constraint.param], `'${constraint.param}' cannot be combined with a forced 'tool_choice'`);
    }
  })
  .transform((body) => ({
    model: body.model,
    messages: body.messages.map(toChatMessage),
    /** response_format or a grammar extension field */
    constraint: toRequestConstraint(body),
    logitBias: body.logit_bias,
    /** tools offered to the model; undefined when none are (or tool_choice is 'none') */
    tools: toToolRequest(body),
    /** top alternatives per token when logprobs are on; undefined = off */
    numLogprobs: body.logprobs === true ? (body.top_logprobs ?? 0) : undefined,
    ...toSamplingFields(body),
  }));

export type ChatCompletionRequest = z.output<typeof chatCompletionBody>;

/** content is required but in assistant turns; a tool turn names its call */
function refineMessage(m: WireMessage, i: number, ctx: z.RefinementCtx): void {
  if ((m.content === undefined || m.content === null) && m.role !== 'assistant') {
    refuse(ctx, ['messages', i, 'content'], `'messages[${i}].content' must be a string or an array of text parts`, 'invalid_type');
  }
  if (m.role === 'tool' && m.tool_call_id === undefined) {
    refuse(ctx, ['messages', i, 'tool_call_id'], `'messages[${i}].tool_call_id' is required for a tool message`, 'missing_required_parameter');
  }
}

function toChatMessage(m: WireMessage): ChatMessage {
  const role = m.role === 'developer' ? 'system' : m.role;
  const text = typeof m.content === 'string' ? m.content : (m.content ?? []).map((part) => part.text).join('');
  if (role === 'assistant' && m.tool_calls !== undefined) {
    return { role, content: text, toolCalls: m.tool_calls.map((call, i) => ({ id: call.id ?? `call_${i}`, name: call.function.name, arguments: call.function.arguments })) };
  }
  if (role === 'tool') return { role, content: text, toolCallId: m.tool_call_id!, ...(m.name !== undefined ? { name: m.name } : {}) };
  return { role, content: text };
}
