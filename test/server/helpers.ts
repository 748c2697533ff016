import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';
import { createServingEngine } from '../../src/engine/async-engine.js';
import { loadModel } from '../../src/engine/loaded-model.js';
import type { ServingEngine } from '../../src/engine/serving-engine.js';
import { createLogger, silentLogger, type Logger, type LogLevel } from '../../src/server/logging/logger.js';
import { createServer, type PeregrineServer, type ServerOptions } from '../../src/server/server.js';

export const MODEL_NAME = 'stories260K';

export interface TestServer {
  readonly server: PeregrineServer;
  readonly engine: ServingEngine;
  readonly baseUrl: string;
  client(apiKey?: string): OpenAI;
  close(): Promise<void>;
}

export async function loadTestEngine(): Promise<ServingEngine> {
  const model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 512, threads: 1 });
  return createServingEngine(model, { maxNumSeqs: 4 });
}

/** A logger whose records (pino's JSON objects) the test reads back. */
export function captureLogger(level: LogLevel = 'trace'): { logger: Logger; records: Record<string, any>[] } {
  const records: Record<string, any>[] = [];
  const logger = createLogger({ level, format: 'json', destination: { write: (line: string) => records.push(JSON.parse(line)) } });
  return { logger, records };
}

/** A server on an ephemeral port of 127.0.0.1 (logging nothing unless options.logger says). `close` leaves the engine to the caller. */
export async function startTestServer(
  engine: ServingEngine,
  apiKey?: string,
  options: Omit<ServerOptions, 'modelName' | 'apiKey'> = {},
): Promise<TestServer> {
  const server = createServer(engine, { logger: silentLogger(), ...options, modelName: MODEL_NAME, apiKey });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    server,
    engine,
    baseUrl,
    client: (key = apiKey ?? 'unused') => new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: key, maxRetries: 0, timeout: 20_000 }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** fetch that returns the status and the parsed JSON body. */
export async function fetchJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body, headers: res.headers };
}

export function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetchJson(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
