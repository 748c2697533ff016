import type { ServingEngine } from '../engine/serving-engine.js';
import { HttpError } from './http-error.js';
import type { PeregrineServer } from './server.js';

export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
/** how often connections that went idle during the drain are closed */
const IDLE_SWEEP_MS = 100;
/** once requests are aborted, how long their responses get to send the error and end before every connection is cut */
const ABORT_FLUSH_MS = 1_000;
/** setTimeout's longest delay; a longer one would fire at once */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ShutdownOptions {
  /** how long in-flight requests get to finish (default 30 s); those still running then are aborted */
  readonly drainTimeoutMs?: number;
  /** aborting it ends the drain at once, as the deadline would (a second SIGTERM) */
  readonly signal?: AbortSignal;
}

export interface ShutdownResult {
  /** how the drain ended: every request finished, the deadline passed, or `signal` cut it short */
  readonly drainEnd: 'drained' | 'deadline' | 'aborted';
  /** requests still running when the drain ended, aborted: each stream got an error event, each other request a 503 */
  readonly numAborted: number;
}

/**
 * Stops the server in stages, then shuts the engine down.
 * 1. At once: no new connections; new requests and requests still sending their body get 503
 *    `server_shutting_down`; connections with no request in flight (idle keep-alive ones, ones
 *    still sending headers) are closed, and so is each one that goes idle from then on.
 * 2. Running requests get until the drain deadline (or until `signal` aborts) to finish.
 * 3. Any still running are aborted with a 503 `server_shutting_down` (a stream as a final error
 *    event); after a short grace for those to be sent, every remaining connection is closed.
 */
export async function shutdownGracefully(server: PeregrineServer, engine: ServingEngine, options: ShutdownOptions = {}): Promise<ShutdownResult> {
  const drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  const connections = server.connectionTracker;
  // an error here only says the server was not listening: then there is nothing to wait for
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  connections.beginDrain(shuttingDown('the server is shutting down; retry on another instance'));
  const sweep = setInterval(() => connections.closeIdle(), IDLE_SWEEP_MS);
  let numAborted = 0;
  let drainEnd: ShutdownResult['drainEnd'];
  try {
    drainEnd = await waitForDrain(closed, drainTimeoutMs, options.signal);
    if (drainEnd !== 'drained') {
      const why = drainEnd === 'deadline' ? `it was still running ${drainTimeoutMs / 1000} s after shutdown began` : 'the server was told to stop now';
      numAborted = connections.abortAll(shuttingDown(`the server is shutting down; this request was aborted because ${why}`));
      await Promise.race([closed, delay(ABORT_FLUSH_MS)]);
      connections.closeAll();
      await closed;
    }
  } finally {
    clearInterval(sweep);
  }
  await engine.shutdown();
  return { drainEnd, numAborted };
}

function shuttingDown(message: string): HttpError {
  return new HttpError(503, message, 'server_error', null, 'server_shutting_down', { connection: 'close' });
}

function waitForDrain(closed: Promise<void>, timeoutMs: number, signal: AbortSignal | undefined): Promise<ShutdownResult['drainEnd']> {
  return new Promise((resolve) => {
    const finish = (end: ShutdownResult['drainEnd']): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(end);
    };
    const onAbort = (): void => finish('aborted');
    const timer = Number.isFinite(timeoutMs) ? setTimeout(() => finish('deadline'), Math.min(Math.max(timeoutMs, 0), MAX_TIMER_MS)) : undefined;
    if (signal?.aborted) return finish('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    void closed.then(() => finish('drained'));
  });
}

/** A delay that does not keep the process alive by itself. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
