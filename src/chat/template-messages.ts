import type { ChatMessage } from './chat-template.js';
import { genericToolsPrompt, type ToolFamily } from './tool-call-format.js';
import type { ToolOffer } from './tool-request.js';

/**
 * The `messages` and `tools` a chat template renders, as transformers passes them: tool calls as
 * `{ id, type: 'function', function: { name, arguments } }` with the arguments an object (templates
 * `tojson` them), tool results as role `tool` with `tool_call_id`, tools as OpenAI's
 * `{ type: 'function', function: { name, description, parameters } }`. A template that ignores tools
 * (the generic family) gets them as a system message instead, its assistant tool calls as the JSON
 * the model is asked to answer with, and tool results as user turns.
 */
export function toTemplateInput(
  family: ToolFamily,
  messages: readonly ChatMessage[],
  offer: ToolOffer | undefined,
): { messages: object[]; tools?: object[] } {
  if (family === 'generic') return { messages: toGenericMessages(messages, offer) };
  const templateMessages = messages.map((m) => ({
    role: m.role,
    content: m.content,
    ...(m.toolCalls && m.toolCalls.length > 0
      ? { tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: parseArguments(c.arguments) } })) }
      : {}),
    ...(m.toolCallId !== undefined ? { tool_call_id: m.toolCallId } : {}),
    ...(m.name !== undefined ? { name: m.name } : {}),
  }));
  if (offer === undefined) return { messages: templateMessages };
  return {
    messages: templateMessages,
    tools: offer.tools.map((t) => ({ type: 'function', function: { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.parameters } })),
  };
}

function toGenericMessages(messages: readonly ChatMessage[], offer: ToolOffer | undefined): ChatMessage[] {
  const converted = messages.map((m): ChatMessage => {
    if (m.role === 'assistant' && m.toolCalls && m.toolCalls.length > 0) {
      const calls = JSON.stringify({ tool_calls: m.toolCalls.map((c) => ({ name: c.name, arguments: parseArguments(c.arguments) })) });
      return { role: 'assistant', content: m.content === '' ? calls : `${m.content}\n${calls}` };
    }
    if (m.role === 'tool') return { role: 'user', content: `Tool result${m.toolCallId ? ` (${m.toolCallId})` : ''}: ${m.content}` };
    return { role: m.role, content: m.content };
  });
  if (offer === undefined) return converted;
  const prompt = genericToolsPrompt(offer.tools, offer.isForced);
  const first = converted[0];
  if (first?.role === 'system') return [{ role: 'system', content: `${first.content}\n\n${prompt}` }, ...converted.slice(1)];
  return [{ role: 'system', content: prompt }, ...converted];
}

/** arguments as an object for the template; text that is not a JSON object stays text */
function parseArguments(text: string): unknown {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : text;
  } catch {
    return text;
  }
}
