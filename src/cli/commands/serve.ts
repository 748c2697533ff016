import { basename } from 'node:path';
import { createServingEngine } from '../../engine/async-engine.js';
import { loadModel } from '../../engine/model.js';
import { createServer } from '../../server/server.js';
import { shutdownGracefully } from '../../server/graceful-shutdown.js';
import { defineCommand, matmulPrecisionFlag, numberFlag, parseCommandArgs } from '../args.js';
import { DEFAULT_MODEL_PATH } from '../default-model.js';

export const SERVE_COMMAND = defineCommand({
  name: 'serve',
  synopsis: '[--model PATH] [--host HOST] [--port PORT] [options]',
  summary: 'Serves an OpenAI-compatible API (/v1/completions, /v1/chat/completions, /v1/models, /health, /metrics) until SIGTERM or SIGINT, then finishes in-flight requests and exits.',
  flags: {
    model: { type: 'string', arg: 'PATH', help: 'a GGUF model', default: 'the bundled stories260K' },
    host: { type: 'string', arg: 'HOST', help: 'interface to listen on', default: '127.0.0.1' },
    port: { type: 'string', arg: 'PORT', help: 'TCP port; 0 = any free port', default: '8080' },
    'api-key': { type: 'string', arg: 'KEY', help: 'require "Authorization: Bearer KEY" on /v1/*' },
    'model-name': { type: 'string', arg: 'NAME', help: 'the model id clients use', default: 'the file name without .gguf' },
    'max-num-seqs': { type: 'string', arg: 'N', help: 'most requests generating at once', default: '16' },
    'max-queue': { type: 'string', arg: 'N', help: 'most requests waiting before 429', default: '256' },
    'context-size': { type: 'string', arg: 'N', help: 'context length in tokens', default: "the model's, at most 4096" },
    threads: { type: 'string', arg: 'N', help: 'threads for the native kernels', default: 'all cores' },
    'matmul-precision': {
      type: 'string',
      arg: 'P',
      help: "bf16 (AMX CPUs: Q8_0/Q4_0/Q4_K batches of 12+ tokens on bf16 tiles: faster, closer to the f32 product) or exact (llama.cpp's arithmetic)",
      default: 'bf16',
    },
  },
});

/** Runs until SIGTERM/SIGINT, then stops accepting, finishes in-flight requests and resolves. */
export async function runServe(argv: string[], err: NodeJS.WritableStream): Promise<void> {
  const { values } = parseCommandArgs(argv, SERVE_COMMAND);
  const path = values.model ?? DEFAULT_MODEL_PATH;
  const host = values.host ?? '127.0.0.1';
  const port = numberFlag(values.port, '--port', { integer: true }) ?? 8080;
  const model = await loadModel(path, {
    contextSize: numberFlag(values['context-size'], '--context-size', { integer: true }),
    threads: numberFlag(values.threads, '--threads', { integer: true }),
    matmulPrecision: matmulPrecisionFlag(values['matmul-precision']) ?? 'bf16',
  });
  const engine = createServingEngine(model, {
    maxNumSeqs: numberFlag(values['max-num-seqs'], '--max-num-seqs', { integer: true }),
    maxQueueLength: numberFlag(values['max-queue'], '--max-queue', { integer: true }),
  });
  const modelName = values['model-name'] ?? basename(path).replace(/\.gguf$/i, '');
  const server = createServer(engine, { modelName, apiKey: values['api-key'] });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
  err.write(`peregrine: serving ${modelName} (${model.info.architecture}, ${model.backendName}) on ${url}/v1\n`);

  await new Promise<void>((resolve) => {
    let isStopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (isStopping) return;
      isStopping = true;
      err.write(`peregrine: ${signal}: finishing in-flight requests\n`);
      shutdownGracefully(server, engine).then(
        () => resolve(),
        (e: unknown) => {
          err.write(`peregrine: shutdown failed: ${(e as Error).message}\n`);
          resolve();
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  err.write('peregrine: stopped\n');
}
