import { InvalidRequestError } from '../errors/engine-error.js';
import type { FinishReason, GenerationOptions } from '../engine/generation-options.js';
import type { LoadedModel } from '../engine/loaded-model.js';
import { ChatTemplate, type ChatMessage } from '../server/chat-completions/chat-template.js';
import { HttpError } from '../server/http-error.js';
import { forcedToolCallFor } from '../server/tools/tool-call-format.js';
import { ToolCallOutput } from '../server/tools/tool-call-output.js';
import { readToolRequest } from '../server/tools/tool-request.js';

/** A function the model may call: `parameters` is its arguments' JSON Schema (an object schema). */
export interface ChatTool {
  readonly name: string;
  readonly description?: string;
  readonly parameters?: Readonly<Record<string, unknown>>;
}

export interface ChatOptions extends GenerationOptions {
  readonly tools?: readonly ChatTool[];
  /** 'auto' (default): the model may call; 'required' / `{ name }`: a call is forced with a grammar; 'none': tools are not offered */
  readonly toolChoice?: 'auto' | 'none' | 'required' | { readonly name: string };
  /** whether 'auto' and 'required' may make several calls in one turn (default true) */
  readonly parallelToolCalls?: boolean;
}

export interface ChatResult {
  /** the assistant's text; '' when it only called tools */
  readonly content: string;
  /** the calls it made, `arguments` a JSON object's text; undefined when none */
  readonly toolCalls: readonly { readonly id: string; readonly name: string; readonly arguments: string }[] | undefined;
  readonly finishReason: FinishReason | 'tool_calls';
  readonly usage: { readonly promptTokens: number; readonly completionTokens: number };
}

const templates = new WeakMap<LoadedModel, ChatTemplate>();

/**
 * One assistant turn: `messages` rendered with the model's chat template (tools offered as its model
 * family expects), generated with `options`, and the output parsed into tool calls when it is a valid
 * tool-call turn. The TypeScript counterpart of POST /v1/chat/completions with tools.
 * @throws InvalidRequestError for bad tools, tool choice or generation options
 */
export async function chat(model: LoadedModel, messages: readonly ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
  const { tools, toolChoice, parallelToolCalls, ...generation } = options;
  let template = templates.get(model);
  if (!template) templates.set(model, (template = ChatTemplate.forModel(model)));
  const wireChoice = typeof toolChoice === 'object' ? { type: 'function', function: { name: toolChoice.name } } : toolChoice;
  const wireTools = tools?.map((t) => ({ type: 'function', function: t }));
  const request = asInvalidRequest(() => readToolRequest({ tools: wireTools, tool_choice: wireChoice, parallel_tool_calls: parallelToolCalls }));
  const forced = request && forcedToolCallFor(template.toolFamily, request);
  if (forced && (generation.responseFormat?.type ?? 'text') !== 'text') {
    throw new InvalidRequestError('INVALID_ARGUMENT', 'responseFormat cannot be combined with a forced toolChoice');
  }
  const text = asInvalidRequest(() => template.render(messages, true, request && { tools: request.tools, isForced: forced !== undefined }));
  const promptIds = model.tokenize(text + (forced?.prefix ?? ''), { addSpecial: true, parseSpecial: true });
  const result = await model.complete(promptIds, forced ? { ...generation, constraint: forced.spec } : generation);
  if (!request) return { content: result.text, toolCalls: undefined, finishReason: result.finishReason, usage: result.usage };
  const output = new ToolCallOutput(template.toolFamily, request, forced?.prefix ?? '', false);
  output.push(result.text);
  output.finish();
  const { content, toolCalls } = output;
  return {
    content,
    toolCalls: toolCalls?.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
    finishReason: toolCalls ? 'tool_calls' : result.finishReason,
    usage: result.usage,
  };
}

/** the server's 400s (HttpError) as the API's InvalidRequestError */
function asInvalidRequest<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof HttpError) throw new InvalidRequestError('INVALID_ARGUMENT', err.message);
    throw err;
  }
}
