import { InvalidRequestError } from '../errors/engine-error.js';
import { ChatTemplate, type ChatMessage, type ChatToolCall } from '../chat/chat-template.js';
import { forcedToolCallFor } from '../chat/tool-call-format.js';
import { ToolCallOutput } from '../chat/tool-call-output.js';
import { readToolRequest, type ToolRequest } from '../chat/tool-request.js';
import type { FinishReason, GenerationChunk, GenerationOptions } from './generation-options.js';
import type { Model } from './model.js';

export interface ChatSessionOptions {
  /** the first message of the conversation, role 'system' */
  readonly systemPrompt?: string;
  /** default: the model's own (GGUF tokenizer.chat_template), or the built-in "User:/Assistant:" fallback */
  readonly chatTemplate?: ChatTemplate;
  /** the conversation so far (after the system prompt, if one is given): user, assistant (with toolCalls), tool turns */
  readonly messages?: readonly ChatMessage[];
}

/** A function the model may call: `parameters` is its arguments' JSON Schema (an object schema). */
export interface ChatTool {
  readonly name: string;
  readonly description?: string;
  readonly parameters?: Readonly<Record<string, unknown>>;
}

/** The tool fields of one turn (OpenAI's `tools`, `tool_choice`, `parallel_tool_calls`). */
export interface ChatToolOptions {
  readonly tools?: readonly ChatTool[];
  /** 'auto' (default): the model may call; 'required' / `{ name }`: a call is forced with a grammar; 'none': tools are not offered */
  readonly toolChoice?: 'auto' | 'none' | 'required' | { readonly name: string };
  /** whether 'auto' and 'required' may make several calls in one turn (default true) */
  readonly parallelToolCalls?: boolean;
}

/** One turn's options: generation (responseFormat, grammar, sampling, ...) and tools. */
export interface ChatPromptOptions extends Omit<GenerationOptions, 'addSpecial' | 'parseSpecial'>, ChatToolOptions {
  /** called with each piece of the answer's content as it is generated (tool calls are not content) */
  readonly onTextChunk?: (text: string) => void;
}

/** One assistant turn. */
export interface ChatResult {
  /** the assistant's text; '' when it only called tools */
  readonly content: string;
  /** the calls it made, `arguments` a JSON object's text; undefined when none */
  readonly toolCalls: readonly ChatToolCall[] | undefined;
  readonly finishReason: Exclude<FinishReason, 'abort'> | 'tool_calls';
  readonly usage: { readonly promptTokens: number; readonly completionTokens: number };
}

/** What a session needs of a model: a LoadedModel. */
export interface ChatModel extends Model {
  generate(prompt: string | readonly number[], options?: GenerationOptions): AsyncGenerator<GenerationChunk>;
}

/**
 * A conversation with a model, as node-llama-cpp's LlamaChatSession: each turn adds its messages
 * (the user's, or tool results), renders the whole history with the model's chat template (the
 * server renders with the same one, so the same prompt text as /v1/chat/completions, tools offered
 * as the model's family expects), generates the assistant's answer, parses it into tool calls when
 * it is a valid tool-call turn, and adds it to the history, tool calls included. Turns on one
 * session run one after another.
 */
export class ChatSession {
  readonly chatTemplate: ChatTemplate;
  private readonly messages: ChatMessage[] = [];
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    readonly model: ChatModel,
    options: ChatSessionOptions = {},
  ) {
    this.chatTemplate = options.chatTemplate ?? ChatTemplate.forModel(model);
    if (options.systemPrompt !== undefined) this.messages.push({ role: 'system', content: options.systemPrompt });
    this.messages.push(...(options.messages ?? []));
  }

  /** the conversation so far, system prompt first */
  get history(): readonly ChatMessage[] {
    return [...this.messages];
  }

  /**
   * The assistant's answer to `text` (its content: '' when it only called tools; `send` returns the
   * calls too). Both join the history only when the answer is complete (an error leaves the history
   * as it was; an abort through options.signal rejects with its reason). Throws InvalidRequestError
   * PROMPT_TOO_LONG once the history no longer fits in the context.
   */
  async prompt(text: string, options: ChatPromptOptions = {}): Promise<string> {
    return (await this.send({ role: 'user', content: text }, options)).content;
  }

  /**
   * Adds `messages` (a user message, or the `tool` results of the last turn's calls, with their
   * `toolCallId`s; none to answer the history as it is) and generates one assistant turn, as `prompt`.
   * @throws InvalidRequestError for bad tools, tool choice or generation options, and INVALID_MESSAGES
   * when the chat template refuses the messages
   */
  send(messages: ChatMessage | readonly ChatMessage[], options: ChatPromptOptions = {}): Promise<ChatResult> {
    const added = Array.isArray(messages) ? [...(messages as readonly ChatMessage[])] : [messages as ChatMessage];
    const answer = this.turn.then(() => this.runTurn(added, options));
    this.turn = answer.catch(() => undefined);
    return answer;
  }

  /** Forgets the conversation, keeping the system prompt. */
  reset(): void {
    this.messages.splice(this.messages[0]?.role === 'system' ? 1 : 0);
  }

  private async runTurn(added: readonly ChatMessage[], options: ChatPromptOptions): Promise<ChatResult> {
    const { onTextChunk, tools, toolChoice, parallelToolCalls, ...generation } = options;
    const template = this.chatTemplate;
    const request = readTools({ tools, toolChoice, parallelToolCalls });
    const forced = request && forcedToolCallFor(template.toolFamily, request);
    if (forced && (generation.responseFormat?.type ?? 'text') !== 'text') {
      throw new InvalidRequestError('INVALID_ARGUMENT', 'responseFormat cannot be combined with a forced toolChoice');
    }
    const history = [...this.messages, ...added];
    const promptText = template.render(history, true, request && { tools: request.tools, isForced: forced !== undefined });
    // the fallback template has no end-of-turn token: a model that goes on to write the user's
    // next turn is stopped there
    const stop = template.isFallback ? [...(generation.stop ?? []), '\nUser:'] : generation.stop;
    const output = request && new ToolCallOutput(template.toolFamily, request, forced?.prefix ?? '', false);
    const onContent = (text: string): void => {
      if (text !== '') onTextChunk?.(text);
    };
    let content = '';
    let last: GenerationChunk | undefined;
    const generateOptions = { ...generation, stop, addSpecial: true, parseSpecial: true, ...(forced ? { constraint: forced.spec } : {}) };
    for await (const chunk of this.model.generate(promptText + (forced?.prefix ?? ''), generateOptions)) {
      if (chunk.finishReason === 'abort') throw generation.signal?.reason ?? new DOMException('the prompt was aborted', 'AbortError');
      last = chunk;
      if (chunk.text === '') continue;
      if (!output) {
        content += chunk.text;
        onContent(chunk.text);
      } else {
        for (const delta of output.push(chunk.text)) if ('content' in delta) onContent(delta.content);
      }
    }
    let toolCalls: ChatToolCall[] | undefined;
    if (output) {
      for (const delta of output.finish()) if ('content' in delta) onContent(delta.content);
      content = output.content;
      toolCalls = output.toolCalls?.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
    }
    this.messages.push(...added, { role: 'assistant', content, ...(toolCalls ? { toolCalls } : {}) });
    return {
      content,
      toolCalls,
      finishReason: toolCalls ? 'tool_calls' : last?.finishReason === 'length' ? 'length' : 'stop',
      usage: last?.usage ?? { promptTokens: 0, completionTokens: 0 },
    };
  }
}

/** the turn's tools as the server reads them (the same checks and messages), or undefined for none */
function readTools(options: ChatToolOptions): ToolRequest | undefined {
  const { tools, toolChoice, parallelToolCalls } = options;
  const wireChoice = typeof toolChoice === 'object' ? { type: 'function', function: { name: toolChoice.name } } : toolChoice;
  const wireTools = tools?.map((t) => ({ type: 'function', function: t }));
  return readToolRequest({ tools: wireTools, tool_choice: wireChoice, parallel_tool_calls: parallelToolCalls });
}
