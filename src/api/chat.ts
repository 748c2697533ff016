import type { GenerationOptions } from '../engine/generation-options.js';
import { ChatSession, type ChatModel, type ChatResult, type ChatToolOptions } from '../engine/chat-session.js';
import { ChatTemplate, type ChatMessage } from '../chat/chat-template.js';

export type { ChatTool, ChatResult } from '../engine/chat-session.js';

export interface ChatOptions extends GenerationOptions, ChatToolOptions {}

const templates = new WeakMap<ChatModel, ChatTemplate>();

/**
 * One assistant turn after `messages`, the TypeScript counterpart of POST /v1/chat/completions: a
 * one-shot ChatSession (`new ChatSession(model, { messages }).send([], options)`), kept as the
 * short form; use a session (`model.chat()`) to go on with the conversation, tool calls and results
 * kept in its history. `addSpecial` / `parseSpecial` are ignored (a chat prompt always has both).
 * @throws InvalidRequestError for bad tools, tool choice or generation options, and INVALID_MESSAGES
 * when the chat template refuses the messages
 */
export async function chat(model: ChatModel, messages: readonly ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
  const { addSpecial: _addSpecial, parseSpecial: _parseSpecial, ...turn } = options;
  let chatTemplate = templates.get(model);
  if (!chatTemplate) templates.set(model, (chatTemplate = ChatTemplate.forModel(model)));
  return new ChatSession(model, { chatTemplate, messages }).send([], turn);
}
