import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { basename } from 'node:path';
import { createServingEngine } from '../../engine/async-engine.js';
import { loadModel } from '../../engine/loaded-model.js';
import { InvalidRequestError } from '../../errors/engine-error.js';
import { untrustedText } from '../../errors/untrusted-text.js';
import { CorsPolicy } from '../../server/cors.js';
import { createServer, DEFAULT_MAX_UNREAD_BYTES, type PeregrineServer } from '../../server/server.js';
import { shutdownGracefully } from '../../server/graceful-shutdown.js';
import type { ServingEngine } from '../../engine/serving-engine.js';
import { defineCommand, matmulPrecisionFlag, numberFlag, parseCommandArgs, threadsFlag } from '../args.js';
import { DEFAULT_MODEL_PATH } from '../default-model.js';

export const SERVE_COMMAND = defineCommand({
  name: 'serve',
  synopsis: '[--model PATH] [--host HOST] [--port PORT] [options]',
  summary:
    'Serves an OpenAI-compatible API (/v1/completions, /v1/chat/completions, /v1/models, /v1/models/{id}, llama-server\'s /tokenize and /detokenize, /health, /metrics) until SIGTERM or SIGINT, then finishes in-flight requests (at most --drain-timeout seconds) and exits; a second signal aborts them at once, each stream ending with an error event. The API key may come from the PEREGRINE_API_KEY environment variable instead of --api-key (which `ps` shows).',
  flags: {
    model: { type: 'string', arg: 'PATH', help: 'a GGUF model', default: 'the bundled stories260K' },
    host: { type: 'string', arg: 'HOST', help: 'interface to listen on', default: '127.0.0.1' },
    port: { type: 'string', arg: 'PORT', help: 'TCP port; 0 = any free port', default: '8080' },
    'api-key': {
      type: 'string',
      arg: 'KEY',
      help: 'require "Authorization: Bearer KEY" on /v1/*, /tokenize and /detokenize',
      default: 'the PEREGRINE_API_KEY environment variable, else no key',
    },
    'model-name': { type: 'string', arg: 'NAME', help: 'the model id clients use, and responses and /v1/models name', default: 'the file name without .gguf' },
    'model-alias': { type: 'string', arg: 'NAME', multiple: true, help: 'another model id requests may name (listed in /v1/models after --model-name)' },
    'cors-origin': {
      type: 'string',
      arg: 'ORIGIN',
      multiple: true,
      help: 'let browser pages from ORIGIN (https://host[:port], or * for any) call the server (CORS)',
      default: 'none',
    },
    'max-num-seqs': { type: 'string', arg: 'N', help: 'most requests generating at once', default: '16' },
    'max-queue': { type: 'string', arg: 'N', help: 'most requests waiting before 429', default: '256' },
    'context-size': { type: 'string', arg: 'N', help: "context length in tokens, at most the model's trained context", default: "the model's, at most 4096" },
    threads: { type: 'string', arg: 'N', help: 'threads for the native kernels', default: 'all cores' },
    'matmul-precision': {
      type: 'string',
      arg: 'P',
      help: "bf16 (AMX CPUs: Q8_0/Q4_0/Q4_K batches of 12+ tokens on bf16 tiles: faster, closer to the f32 product) or exact (llama.cpp's arithmetic)",
      default: 'bf16',
    },
    'max-unread-bytes': {
      type: 'string',
      arg: 'BYTES',
      help: 'a stream whose client leaves more than this unread is aborted (its generations cancelled, an error event sent)',
      default: String(DEFAULT_MAX_UNREAD_BYTES),
    },
    'drain-timeout': {
      type: 'string',
      arg: 'SECONDS',
      help: 'after SIGTERM/SIGINT, how long in-flight requests get to finish; then they are aborted (each stream gets an error event) and the server exits',
      default: '30',
    },
  },
});

/** Runs until SIGTERM/SIGINT, then stops accepting, finishes (or at the drain deadline aborts) in-flight requests and resolves. */
export async function runServe(argv: string[], err: NodeJS.WritableStream): Promise<void> {
  const { values } = parseCommandArgs(argv, SERVE_COMMAND);
  const path = values.model ?? DEFAULT_MODEL_PATH;
  const host = values.host ?? '127.0.0.1';
  const port = numberFlag(values.port, '--port', { integer: true }) ?? 8080;
  if (port < 0 || port > 65535) throw new InvalidRequestError('INVALID_ARGUMENT', `--port must be from 0 to 65535 (got ${port})`);
  const drainTimeoutSec = numberFlag(values['drain-timeout'], '--drain-timeout') ?? 30;
  if (drainTimeoutSec < 0) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `--drain-timeout must be at least 0 seconds (got '${String(values['drain-timeout'])}')`);
  }
  const maxUnreadBytes = numberFlag(values['max-unread-bytes'], '--max-unread-bytes', { integer: true }) ?? DEFAULT_MAX_UNREAD_BYTES;
  if (maxUnreadBytes < 1) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `--max-unread-bytes must be at least 1 (got ${maxUnreadBytes})`);
  }
  const corsOrigins = values['cors-origin'];
  CorsPolicy.fromOrigins(corsOrigins); // a bad origin is said before the model loads
  const apiKey = values['api-key'] ?? (process.env.PEREGRINE_API_KEY || undefined);
  await checkCanListen(port, host); // before the model loads: a busy port or a bad host is said at once
  const model = await loadModel(path, {
    contextSize: numberFlag(values['context-size'], '--context-size', { integer: true }),
    threads: threadsFlag(values.threads),
    matmulPrecision: matmulPrecisionFlag(values['matmul-precision']) ?? 'bf16',
  });
  const engine = createServingEngine(model, {
    maxNumSeqs: numberFlag(values['max-num-seqs'], '--max-num-seqs', { integer: true }),
    maxQueueLength: numberFlag(values['max-queue'], '--max-queue', { integer: true }),
  });
  const modelName = values['model-name'] ?? basename(path).replace(/\.gguf$/i, '');
  const server = createServer(engine, { modelName, modelAliases: values['model-alias'], corsOrigins, apiKey, maxUnreadBytes });

  await listen(server, port, host);
  const address = server.address();
  const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
  err.write(`peregrine: serving ${modelName} (${model.info.architecture}, ${model.backendName}) on ${url}/v1\n`);

  await serveUntilSignalled(server, engine, drainTimeoutSec, err);
}

/** Listens on host:port; a busy port, a forbidden one or a host that does not resolve is an InvalidRequestError. */
async function listen(server: NetServer, port: number, host: string): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const where = `${untrustedText(host)}:${port}`;
    const why =
      code === 'EADDRINUSE' ? 'is already in use' :
      code === 'EACCES' ? 'needs privileges this process lacks' :
      code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'does not resolve (--host)' :
      code === 'EADDRNOTAVAIL' ? 'is not an address of this machine (--host)' :
      `cannot be listened on (${code ?? (e as Error).message})`;
    throw new InvalidRequestError('INVALID_ARGUMENT', `${where} ${why}`);
  }
}

/** Binds host:port once and lets it go, so that the model is not loaded for a server that cannot listen. */
async function checkCanListen(port: number, host: string): Promise<void> {
  const probe = createNetServer();
  await listen(probe, port, host);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/**
 * Waits for SIGTERM or SIGINT, then shuts down gracefully: in-flight requests get drainTimeoutSec to
 * finish. A second signal aborts them at once (each stream ends with an error event), a third exits
 * on the spot. One handler stays installed throughout, so no signal finds node's default (kill).
 */
async function serveUntilSignalled(server: PeregrineServer, engine: ServingEngine, drainTimeoutSec: number, err: NodeJS.WritableStream): Promise<void> {
  let numSignals = 0;
  let onFirstSignal: (signal: NodeJS.Signals) => void = () => {};
  const firstSignal = new Promise<NodeJS.Signals>((resolve) => (onFirstSignal = resolve));
  const stopNow = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    numSignals++;
    if (numSignals === 1) {
      onFirstSignal(signal);
    } else if (numSignals === 2) {
      err.write(`peregrine: ${signal} again: aborting in-flight requests\n`);
      stopNow.abort();
    } else {
      err.write(`peregrine: ${signal} a third time: exiting now\n`);
      process.exit(1);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const signal = await firstSignal;
    err.write(`peregrine: ${signal}: finishing in-flight requests (at most ${drainTimeoutSec} s; ${signal} again stops them now)\n`);
    try {
      const { drainEnd, numAborted } = await shutdownGracefully(server, engine, { drainTimeoutMs: drainTimeoutSec * 1000, signal: stopNow.signal });
      if (drainEnd === 'deadline') err.write(`peregrine: drain deadline of ${drainTimeoutSec} s passed\n`);
      err.write(numAborted > 0 ? `peregrine: stopped; aborted ${numAborted} in-flight request${numAborted === 1 ? '' : 's'}\n` : 'peregrine: stopped\n');
    } catch (e) {
      err.write(`peregrine: shutdown failed: ${(e as Error).message}\n`);
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
