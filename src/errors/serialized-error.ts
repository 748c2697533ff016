/**
 * An error as it crosses a worker boundary (postMessage, IPC): structured clone keeps neither an
 * Error's class nor its code, so a worker sends these three fields and the parent throws the
 * error again with reviveEngineError.
 */
import { CapacityError, EngineDeadError, EngineError, InvalidRequestError, ModelLoadError, RequestFailedError, type ErrorCode } from './engine-error.js';

export interface SerializedError {
  readonly name: string;
  readonly code: string | undefined;
  readonly message: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) return { name: err.name, code: err instanceof EngineError ? err.code : undefined, message: err.message };
  return { name: 'Error', code: undefined, message: String(err) };
}

const ERROR_CLASSES: Readonly<Record<string, new (code: ErrorCode, message: string) => EngineError>> = {
  InvalidRequestError,
  CapacityError,
  ModelLoadError,
  RequestFailedError,
  EngineDeadError,
};

/**
 * The worker's EngineError as the parent throws it, with `message`: the same class and code
 * (EngineDeadError for a subclass not known here); undefined for an error without a code (a bug),
 * which the caller reports its own way.
 */
export function reviveEngineError(e: SerializedError, message: string): EngineError | undefined {
  if (e.code === undefined) return undefined;
  return new (ERROR_CLASSES[e.name] ?? EngineDeadError)(e.code as ErrorCode, message);
}
