import { randomBytes } from 'node:crypto';
import { ToolCallStream } from './tool-call-stream.js';
import type { ToolFamily } from './tool-call-family.js';
import type { ToolRequest } from './tool-request.js';

/** A tool call as OpenAI's chat completion message carries it. */
export interface WireToolCall {
  readonly id: string;
  readonly type: 'function';
  readonly function: { readonly name: string; readonly arguments: string };
}

/** One `delta` of a streamed chat completion chunk: content, or a piece of one tool call. */
export type ChatDelta =
  | { readonly content: string }
  | {
      readonly tool_calls: readonly [
        | { readonly index: number; readonly id: string; readonly type: 'function'; readonly function: { readonly name: string; readonly arguments: '' } }
        | { readonly index: number; readonly function: { readonly arguments: string } },
      ];
    };

/**
 * One choice's output text on its way to the client when tools are offered, as OpenAI streams it:
 * content, and per tool call a first delta with its index, id, type and function name (arguments
 * ''), then the arguments in the pieces the model wrote them (ToolCallStream reads the family's
 * syntax). A streamed forced call (`required`, a named function: the grammar keeps it valid) goes
 * out as it is generated; otherwise each call goes out once it has closed as a valid call, so
 * broken JSON never becomes a tool call (it is content). `content` and `toolCalls` add up what was
 * sent, for a response that is not streamed.
 */
export class ToolCallOutput {
  private readonly stream: ToolCallStream;
  private readonly calls: { id: string; name: string; arguments: string }[] = [];
  private text = '';
  private readonly maxCalls: number;

  constructor(
    family: ToolFamily,
    tools: ToolRequest,
    /** the forced call's opening marker, which the prompt ends with ('' when not forced) */
    prefix: string,
    isStreaming: boolean,
  ) {
    const isForced = tools.choice.type !== 'auto';
    this.stream = new ToolCallStream(family, new Set(tools.tools.map((t) => t.name)), { isLive: isStreaming && isForced, prefix });
    this.maxCalls = !tools.isParallel || tools.choice.type === 'function' ? 1 : Infinity;
  }

  /** the deltas to send for the next piece of output text */
  push(text: string): ChatDelta[] {
    return this.toDeltas(this.stream.push(text));
  }

  /** the deltas to send at the end of the output */
  finish(): ChatDelta[] {
    return this.toDeltas(this.stream.finish());
  }

  /** the content sent so far */
  get content(): string {
    return this.text;
  }

  /** the calls sent so far; undefined when none */
  get toolCalls(): WireToolCall[] | undefined {
    if (this.calls.length === 0) return undefined;
    return this.calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
  }

  private toDeltas(events: ReturnType<ToolCallStream['push']>): ChatDelta[] {
    const deltas: ChatDelta[] = [];
    for (const event of events) {
      if (event.type === 'content') {
        this.text += event.text;
        deltas.push({ content: event.text });
      } else if (event.index >= this.maxCalls) {
        continue; // parallel_tool_calls false: the first call only
      } else if (event.type === 'call') {
        const id = newToolCallId();
        this.calls.push({ id, name: event.name, arguments: '' });
        deltas.push({ tool_calls: [{ index: event.index, id, type: 'function', function: { name: event.name, arguments: '' } }] });
      } else {
        this.calls[event.index]!.arguments += event.text;
        deltas.push({ tool_calls: [{ index: event.index, function: { arguments: event.text } }] });
      }
    }
    return deltas;
  }
}

/** `call_` and 24 random alphanumerics, like OpenAI's */
export function newToolCallId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return `call_${Array.from(randomBytes(24), (b) => alphabet[b % alphabet.length]).join('')}`;
}
