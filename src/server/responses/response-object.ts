import type { ChoicesUsage } from '../choice-streams.js';
import type { ResponsesRequest } from './schema.js';

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete';

/** The one output_text content part of the assistant message. */
export function outputTextPart(text: string) {
  return { type: 'output_text' as const, text, annotations: [] as never[], logprobs: [] as never[] };
}

/** The assistant message output item; `text` undefined = not started (no content part yet). */
export function messageItem(itemId: string, status: 'in_progress' | 'completed' | 'incomplete', text: string | undefined) {
  return { id: itemId, type: 'message' as const, status, role: 'assistant' as const, content: text === undefined ? [] : [outputTextPart(text)] };
}

export interface ResponseState {
  readonly responseId: string;
  readonly itemId: string;
  readonly createdAtSec: number;
  readonly modelName: string;
  readonly status: ResponseStatus;
  /** the generated text; undefined while nothing is generated (no output item yet) */
  readonly text: string | undefined;
  readonly usage: ChoicesUsage | undefined;
}

/**
 * OpenAI's Response object for a text-only response: every field the openai SDK and the AI SDK read
 * (output, output_text, usage, incomplete_details when cut by max_output_tokens), the request's
 * settings echoed back, and the fixed values of what this server does not do (tools, storage).
 */
export function responseObject(request: ResponsesRequest, state: ResponseState) {
  const isDone = state.status !== 'in_progress';
  return {
    id: state.responseId,
    object: 'response' as const,
    created_at: state.createdAtSec,
    status: state.status,
    error: null,
    incomplete_details: state.status === 'incomplete' ? { reason: 'max_output_tokens' as const } : null,
    instructions: request.instructions,
    max_output_tokens: request.maxOutputTokens ?? null,
    model: state.modelName,
    output: state.text === undefined ? [] : [messageItem(state.itemId, isDone ? state.status : 'in_progress', state.text)],
    output_text: state.text ?? '',
    parallel_tool_calls: false,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: request.temperature ?? 1,
    text: { format: { type: 'text' as const } },
    tool_choice: 'none' as const,
    tools: [] as never[],
    top_p: request.topP ?? 1,
    truncation: 'disabled' as const,
    usage:
      state.usage === undefined
        ? null
        : {
            input_tokens: state.usage.promptTokens,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: state.usage.completionTokens,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: state.usage.promptTokens + state.usage.completionTokens,
          },
    user: request.user,
    metadata: request.metadata,
  };
}
