import { EngineDeadError } from '../errors/engine-error.js';

/**
 * A backend, buffer, weight or KV cache was used after its dispose(): a bug in the caller (the
 * owner let it go while something still held it). Disposing twice is harmless and never throws.
 */
export class DisposedError extends EngineDeadError {
  constructor(readonly what: string) {
    super('DISPOSED', `${what} was used after dispose()`);
  }
}
