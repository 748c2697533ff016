/**
 * How a model family writes tool calls, recognised from its chat template's text:
 * - llama3 (Llama 3.1+): a bare JSON object `{"name": ..., "parameters": {...}}` (after <|python_tag|>), or an array of them;
 * - hermes (Qwen 2.5+, Hermes, many fine-tunes): `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`, one block per call, after any content;
 * - mistral: `[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]`, after any content;
 * - generic, for templates that ignore tools: the tools are described in a system message and the
 *   model answers `{"tool_calls": [{"name": ..., "arguments": {...}}]}`.
 * Special-token markers (<|python_tag|>, [TOOL_CALLS]) do not reach the output text, so each family
 * takes the JSON with or without its marker.
 */
export type ToolFamily = 'llama3' | 'hermes' | 'mistral' | 'generic';

export function detectToolFamily(templateSource: string): ToolFamily {
  if (templateSource.includes('<tool_call>')) return 'hermes';
  if (templateSource.includes('[TOOL_CALLS]')) return 'mistral';
  if (templateSource.includes('<|python_tag|>') || (templateSource.includes('<|start_header_id|>') && templateSource.includes('tools'))) return 'llama3';
  return 'generic';
}

/** A family's tool-call syntax, as ToolCallStream reads it. */
export interface ToolCallSyntax {
  /** the text that opens the calls (hermes: each block) */
  readonly marker: string | undefined;
  /** hermes: the text that closes each block */
  readonly closeTag: string | undefined;
  /** the characters the calls' JSON may begin with at the very start of the output, without the marker */
  readonly jsonAtStart: string;
  /** content may come before the marker */
  readonly hasContentBefore: boolean;
  /** the JSON may be an array of calls, not only one call */
  readonly allowsArray: boolean;
  /** generic: the calls sit in `{"tool_calls": [...]}` (one call or an array), the only key */
  readonly isWrapped: boolean;
  /** the keys a call's arguments may go by */
  readonly argumentKeys: readonly string[];
}

export const HERMES_OPEN = '<tool_call>';
export const HERMES_CLOSE = '</tool_call>';
export const MISTRAL_MARKER = '[TOOL_CALLS]';
export const LLAMA_MARKER = '<|python_tag|>';

export const TOOL_CALL_SYNTAX: Readonly<Record<ToolFamily, ToolCallSyntax>> = {
  llama3: { marker: LLAMA_MARKER, closeTag: undefined, jsonAtStart: '{[', hasContentBefore: false, allowsArray: true, isWrapped: false, argumentKeys: ['parameters', 'arguments'] },
  hermes: { marker: HERMES_OPEN, closeTag: HERMES_CLOSE, jsonAtStart: '', hasContentBefore: true, allowsArray: false, isWrapped: false, argumentKeys: ['arguments'] },
  mistral: { marker: MISTRAL_MARKER, closeTag: undefined, jsonAtStart: '{[', hasContentBefore: true, allowsArray: true, isWrapped: false, argumentKeys: ['arguments'] },
  generic: { marker: undefined, closeTag: undefined, jsonAtStart: '{', hasContentBefore: false, allowsArray: true, isWrapped: true, argumentKeys: ['arguments'] },
};
