import { EngineDeadError } from '../errors/engine-error.js';

export type TransportErrorCode = 'PEER_FAILED' | 'PEER_TIMEOUT' | 'WORKER_FAILED';

/**
 * A group of workers can no longer run together: restart it.
 * - PEER_FAILED: a peer exited, crashed or closed while this rank needed it (seen by the survivors).
 * - PEER_TIMEOUT: a peer made no progress for peerTimeoutMs (hung, or far slower than allowed).
 * - WORKER_FAILED: seen by the parent: a worker exited, crashed, failed to start or stopped answering.
 */
export class TransportError extends EngineDeadError {
  declare readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export function isTransportErrorCode(code: string): code is TransportErrorCode {
  return code === 'PEER_FAILED' || code === 'PEER_TIMEOUT' || code === 'WORKER_FAILED';
}
