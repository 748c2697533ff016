import { boundedMessage } from './untrusted-text.js';

/**
 * Typed errors. Subclasses group errors by who must act:
 * - InvalidRequestError: the caller (bad prompt, bad parameter) → HTTP 400
 * - CapacityError: retry later (queue full, context full) → HTTP 429/503
 * - ModelLoadError: the operator (bad file, unsupported model) → at startup
 * - RequestFailedError: one request could not go on; the engine serves the others → HTTP 500
 * - EngineDeadError: restart the process
 *
 * Messages are for people: a message built from file or request content quotes that content
 * through `untrustedText` / `untrustedPath`, and every message is passed through
 * `boundedMessage` here, so none carries a raw control character or runs past 1 KB.
 */
export type ErrorCode =
  // model files
  | 'FILE_NOT_FOUND'
  | 'FILE_READ_FAILED'
  | 'GGUF_BAD_MAGIC'
  | 'GGUF_UNSUPPORTED_VERSION'
  | 'GGUF_TRUNCATED'
  | 'GGUF_CORRUPT'
  | 'SAFETENSORS_TRUNCATED'
  | 'SAFETENSORS_CORRUPT'
  | 'UNKNOWN_TENSOR_TYPE'
  | 'UNSUPPORTED_TENSOR_TYPE'
  | 'UNSUPPORTED_ARCHITECTURE'
  | 'MISSING_METADATA'
  | 'MISSING_TENSOR'
  | 'BAD_TENSOR_SHAPE'
  | 'UNSUPPORTED_TOKENIZER'
  // quantization (peregrine quantize)
  | 'ALREADY_QUANTIZED'
  // requests
  | 'INVALID_ARGUMENT'
  /** the chat messages do not render with the model's chat template */
  | 'INVALID_MESSAGES'
  | 'PROMPT_TOO_LONG'
  | 'INVALID_TOKEN'
  // evaluation (peregrine eval)
  | 'VOCAB_MISMATCH'
  | 'TEXT_TOO_SHORT'
  // capacity
  | 'CONTEXT_FULL'
  | 'QUEUE_FULL'
  // engine
  | 'NON_FINITE_LOGITS'
  | 'ENGINE_DEAD'
  | 'NATIVE_BACKEND_FAILED'
  | 'DISPOSED'
  // workers as devices (src/parallel)
  | 'PEER_FAILED'
  | 'PEER_TIMEOUT'
  | 'WORKER_FAILED';

export class EngineError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(boundedMessage(message), options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class InvalidRequestError extends EngineError {
  /** the request field at fault, as OpenAI's error `param` names it (`messages`, `tools[0].function.name`); undefined when none is */
  readonly param: string | undefined;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; param?: string }) {
    super(code, message, options);
    this.param = options?.param;
  }
}
export class CapacityError extends EngineError {}
export class ModelLoadError extends EngineError {}
/** One request failed (e.g. its logits were not finite); the engine goes on serving the others. */
export class RequestFailedError extends EngineError {}
export class EngineDeadError extends EngineError {}

/** For programmer bugs only; never for input validation. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant failed: ${message}`);
}
