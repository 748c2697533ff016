import { randomBytes } from 'node:crypto';
import { couldBeToolCall, parseToolCalls, type ToolFamily } from './tool-call-format.js';
import type { ToolRequest } from './tool-request.js';

/** A tool call as OpenAI's chat completion message carries it. */
export interface WireToolCall {
  readonly id: string;
  readonly type: 'function';
  readonly function: { readonly name: string; readonly arguments: string };
}

/**
 * One choice's output text on its way to the client when tools are offered: text that may still
 * turn out to be a tool call is held back; at the end it is parsed into tool calls, or passed on as
 * content when it is not a complete, valid tool-call turn (broken JSON never becomes a tool call).
 * A stream holds back only while the text so far could begin a call (see couldBeToolCall); a forced
 * call (`required`, a named function) or a non-streaming response holds back everything.
 */
export class ToolCallOutput {
  private held = '';
  /** a stream that has passed text on as content: the rest is content too */
  private isContent = false;

  constructor(
    private readonly family: ToolFamily,
    private readonly tools: ToolRequest,
    /** the forced call's opening marker, which the prompt ends with ('' when not forced) */
    private readonly prefix: string,
    private readonly isStreaming: boolean,
  ) {}

  /** the text to send as content now ('' while it is held back) */
  push(text: string): string {
    if (this.isContent) return text;
    this.held += text;
    const isForced = this.tools.choice.type !== 'auto';
    if (!this.isStreaming || isForced || couldBeToolCall(this.family, this.held)) return '';
    this.isContent = true;
    const out = this.held;
    this.held = '';
    return out;
  }

  /** at the end: content still held back, and the tool calls when the held text is a tool-call turn */
  finish(): { content: string; toolCalls: WireToolCall[] | undefined } {
    const held = this.held;
    this.held = '';
    if (this.isContent) return { content: held, toolCalls: undefined };
    const turn = parseToolCalls(this.family, this.prefix + held, this.tools.tools);
    if (turn === undefined) return { content: held, toolCalls: undefined };
    const isOneCall = !this.tools.isParallel || this.tools.choice.type === 'function';
    const calls = isOneCall ? turn.toolCalls.slice(0, 1) : turn.toolCalls;
    return { content: turn.content, toolCalls: calls.map((c) => ({ id: newToolCallId(), type: 'function', function: { name: c.name, arguments: c.arguments } })) };
  }
}

/** `call_` and 24 random alphanumerics, like OpenAI's */
export function newToolCallId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return `call_${Array.from(randomBytes(24), (b) => alphabet[b % alphabet.length]).join('')}`;
}

/**
 * The stream deltas of tool calls, as OpenAI streams them: per call, a first delta with its index,
 * id, type, function name and empty arguments, then the arguments in pieces of up to `pieceLength`.
 */
export function toolCallDeltas(calls: readonly WireToolCall[], pieceLength = 32): object[] {
  const deltas: object[] = [];
  calls.forEach((call, index) => {
    deltas.push({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] });
    const args = call.function.arguments;
    for (let i = 0; i < args.length; i += pieceLength) {
      deltas.push({ tool_calls: [{ index, function: { arguments: args.slice(i, i + pieceLength) } }] });
    }
  });
  return deltas;
}
