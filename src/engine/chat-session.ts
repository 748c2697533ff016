import { ChatTemplate, type ChatMessage } from '../server/chat-completions/chat-template.js';
import type { GenerationChunk, GenerationOptions } from './generation-options.js';
import type { Model } from './model.js';

export interface ChatSessionOptions {
  /** the first message of the conversation, role 'system' */
  readonly systemPrompt?: string;
  /** default: the model's own (GGUF tokenizer.chat_template), or the built-in "User:/Assistant:" fallback */
  readonly chatTemplate?: ChatTemplate;
}

export interface ChatPromptOptions extends Omit<GenerationOptions, 'addSpecial' | 'parseSpecial'> {
  /** called with each piece of the answer as it is generated */
  readonly onTextChunk?: (text: string) => void;
}

/** What a session needs of a model: a LoadedModel. */
export interface ChatModel extends Model {
  generate(prompt: string | readonly number[], options?: GenerationOptions): AsyncGenerator<GenerationChunk>;
}

/**
 * A conversation with a model, as node-llama-cpp's LlamaChatSession: each `prompt` adds the user's
 * message, renders the whole history with the model's chat template (the server's, so the same
 * prompt text as /v1/chat/completions), generates the answer and adds it to the history. Prompts
 * on one session run one after another.
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
  }

  /** the conversation so far, system prompt first */
  get history(): readonly ChatMessage[] {
    return [...this.messages];
  }

  /**
   * The assistant's answer to `text`. Both join the history only when the answer is complete (an
   * error leaves the history as it was; an abort through options.signal rejects with its reason). Throws InvalidRequestError PROMPT_TOO_LONG
   * once the history no longer fits in the context.
   */
  prompt(text: string, options: ChatPromptOptions = {}): Promise<string> {
    const answer = this.turn.then(() => this.runTurn(text, options));
    this.turn = answer.catch(() => undefined);
    return answer;
  }

  /** Forgets the conversation, keeping the system prompt. */
  reset(): void {
    this.messages.splice(this.messages[0]?.role === 'system' ? 1 : 0);
  }

  private async runTurn(text: string, options: ChatPromptOptions): Promise<string> {
    const { onTextChunk, ...generation } = options;
    const user: ChatMessage = { role: 'user', content: text };
    const promptText = this.chatTemplate.render([...this.messages, user]);
    // the fallback template has no end-of-turn token: a model that goes on to write the user's
    // next turn is stopped there
    const stop = this.chatTemplate.isFallback ? [...(generation.stop ?? []), '\nUser:'] : generation.stop;
    let answer = '';
    for await (const chunk of this.model.generate(promptText, { ...generation, stop, addSpecial: true, parseSpecial: true })) {
      if (chunk.finishReason === 'abort') throw generation.signal?.reason ?? new DOMException('the prompt was aborted', 'AbortError');
      if (chunk.text === '') continue;
      answer += chunk.text;
      onTextChunk?.(chunk.text);
    }
    this.messages.push(user, { role: 'assistant', content: answer });
    return answer;
  }
}
