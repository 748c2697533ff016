import { checkPromptBytes } from '../engine/prompt-length.js';
import { InvalidRequestError, type ErrorCode } from '../errors/engine-error.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { ChatMessage, ChatTemplate } from '../chat/chat-template.js';
import type { ToolOffer } from '../chat/tool-request.js';

/** what the prompt thread is started with */
export interface PromptWorkerData {
  readonly modelPath: string;
  /** Model.tokenizerPath */
  readonly tokenizerPath: string | undefined;
  readonly chatTemplateSource: string;
  readonly contextSize: number;
}

/** a prompt to tokenize: text, or chat messages to render with the chat template first */
export type PromptJob =
  | { readonly id: number; readonly kind: 'text'; readonly text: string; readonly addSpecial: boolean; readonly parseSpecial: boolean }
  | {
      readonly id: number;
      readonly kind: 'chat';
      readonly messages: readonly ChatMessage[];
      /** offered to the model through the template */
      readonly tools?: ToolOffer;
      /** text after the generation prompt that the output continues (a forced tool call's opening marker) */
      readonly prefix?: string;
    };

export type PromptReply =
  | { readonly id: number; readonly ids: Int32Array }
  /** id -1: the thread could not start */
  | { readonly id: number; readonly error: SerializedError };

/** an error as it crosses the thread boundary: a request error keeps its class and fields */
export type SerializedError =
  | { readonly kind: 'invalid'; readonly code: ErrorCode; readonly message: string; readonly param: string | undefined }
  | { readonly kind: 'other'; readonly message: string };

/**
 * The token ids of one prompt. A chat is rendered, then tokenized with special-token text parsed
 * (the template writes them) and BOS as the model's metadata says. A text that cannot fit is
 * refused on its byte length before tokenizing.
 */
export function encodePrompt(job: PromptJob, tokenizer: Tokenizer, chatTemplate: ChatTemplate, contextSize: number): number[] {
  const text = job.kind === 'chat' ? chatTemplate.render(job.messages, true, job.tools) + (job.prefix ?? '') : job.text;
  checkPromptBytes(text, tokenizer, contextSize);
  return job.kind === 'chat'
    ? tokenizer.encode(text, { addSpecial: true, parseSpecial: true })
    : tokenizer.encode(text, { addSpecial: job.addSpecial, parseSpecial: job.parseSpecial });
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof InvalidRequestError) return { kind: 'invalid', code: err.code, message: err.message, param: err.param };
  return { kind: 'other', message: err instanceof Error ? err.message : String(err) };
}

export function deserializeError(e: SerializedError): Error {
  if (e.kind === 'invalid') return new InvalidRequestError(e.code, e.message, { param: e.param });
  return new Error(`the prompt thread failed: ${e.message}`);
}
