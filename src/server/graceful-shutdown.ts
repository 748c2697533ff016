import type { Server } from 'node:http';
import type { ServingEngine } from '../engine/serving-engine.js';

const IDLE_SWEEP_MS = 100;

/**
 * Stops accepting connections, lets in-flight requests finish (keep-alive connections are closed
 * as they go idle), then shuts the engine down. Resolves when both are done.
 */
export async function shutdownGracefully(server: Server, engine: ServingEngine): Promise<void> {
  const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
  try {
    await closed;
  } finally {
    clearInterval(sweep);
  }
  await engine.shutdown();
}
