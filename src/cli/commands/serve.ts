import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { basename } from 'node:path';
import { createServingEngine } from '../../engine/async-engine.js';
import { loadModel } from '../../engine/loaded-model.js';
import type { KvCacheType } from '../../kernels/kernel-backend.js';
import { describeNativeAddon, loadNativeAddon } from '../../kernels/native/native-addon.js';
import { InvalidRequestError } from '../../errors/engine-error.js';
import { untrustedPath, untrustedText } from '../../errors/untrusted-text.js';
import { CorsPolicy } from '../../server/cors.js';
import { createServer, DEFAULT_MAX_UNREAD_BYTES, type PeregrineServer } from '../../server/server.js';
import { shutdownGracefully } from '../../server/graceful-shutdown.js';
import type { ServingEngine } from '../../engine/serving-engine.js';
import { choiceFlag, defineCommand, KV_CACHE_TYPE_FLAG, kvCacheTypeFlag, matmulPrecisionFlag, numberFlag, PARALLEL_FLAGS, parallelFlags, parseCommandArgs, positiveIntegerFlag, threadsFlag, TOKENIZER_FLAG } from '../args.js';
import type { MatmulPrecision } from '../../kernels/native/native-backend.js';
import { mergeFlagValues, readConfigFile } from '../config-file.js';
import { createLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel, type Logger } from '../../server/logging/logger.js';
import { DEFAULT_MODEL_PATH } from '../default-model.js';
import { readPlanFile } from '../../planner/plan-file.js';

export const SERVE_COMMAND = defineCommand({
  name: 'serve',
  synopsis: '[--model PATH] [--host HOST] [--port PORT] [options]',
  summary:
    'Serves an OpenAI-compatible API (/v1/completions, /v1/chat/completions, /v1/responses, /v1/embeddings, /v1/models, /v1/models/{id}, llama-server\'s /tokenize and /detokenize, /health, /metrics, and a web page at /) until SIGTERM or SIGINT, then finishes in-flight requests (at most --drain-timeout seconds) and exits; a second signal aborts them at once, each stream ending with an error event. The API key may come from the PEREGRINE_API_KEY environment variable instead of --api-key (which `ps` shows). Logs go to stderr: startup and shutdown, and one line per request when it ends (request id, route, status, tokens, TTFT, duration). /metrics has vLLM\'s metric names (vllm:*) besides ours (peregrine:*). Every option may also come from a --config file.',
  flags: {
    model: { type: 'string', arg: 'PATH', help: 'a GGUF model or Hugging Face directory', default: 'the bundled stories260K' },
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
    threads: { type: 'string', arg: 'N', help: 'threads for the native kernels (per worker with --tensor-parallel / --pipeline-parallel)', default: 'all cores, divided among the workers' },
    ...PARALLEL_FLAGS,
    'matmul-precision': {
      type: 'string',
      arg: 'P',
      help: "bf16 (Q8_0/Q4_0/Q4_K batches of 12+ tokens in bf16, closer to the f32 product: AMX tiles, faster; vdpbf16ps on AVX-512-BF16, slower), exact (llama.cpp's arithmetic) or fastest (bf16 with AMX, else exact)",
      default: 'fastest',
    },
    'max-unread-bytes': {
      type: 'string',
      arg: 'BYTES',
      help: 'a stream whose client leaves more than this unread is aborted (its generations cancelled, an error event sent)',
      default: String(DEFAULT_MAX_UNREAD_BYTES),
    },
    config: {
      type: 'string',
      arg: 'FILE',
      help: 'read these options from a YAML or JSON file (keys: the long names, kebab-case or camelCase, e.g. maxNumSeqs: 8); flags given on the command line win',
    },
    'log-level': { type: 'string', arg: 'LEVEL', help: 'trace, debug, info (one line per request), warn, error or silent', default: 'info' },
    'log-format': { type: 'string', arg: 'FORMAT', help: "text (one readable line per record) or json (pino's JSON lines)", default: 'text' },
    'drain-timeout': {
      type: 'string',
      arg: 'SECONDS',
      help: 'after SIGTERM/SIGINT, how long in-flight requests get to finish; then they are aborted (each stream gets an error event) and the server exits',
      default: '30',
    },
    tokenizer: TOKENIZER_FLAG,
    plan: {
      type: 'string',
      arg: 'FILE',
      help: 'run the configuration `peregrine plan --output FILE` chose: its model, threads, max-num-seqs, KV cache type, TP, PP and transport; flags given on the command line or in --config win',
    },
    'kv-cache-type': KV_CACHE_TYPE_FLAG,
  },
});

/** Every serve setting, validated (before the model loads). */
interface ServeOptions {
  readonly modelPath: string;
  readonly tokenizerPath: string | undefined;
  readonly host: string;
  readonly port: number;
  readonly drainTimeoutSec: number;
  readonly maxUnreadBytes: number;
  readonly corsOrigins: string[] | undefined;
  readonly apiKey: string | undefined;
  readonly modelName: string | undefined;
  readonly modelAliases: string[] | undefined;
  readonly contextSize: number | undefined;
  readonly threads: number | undefined;
  readonly parallel: ReturnType<typeof parallelFlags>;
  readonly matmulPrecision: MatmulPrecision;
  readonly kvCacheType: KvCacheType | undefined;
  readonly maxNumSeqs: number | undefined;
  readonly maxQueueLength: number | undefined;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
}

type ServeValues = ReturnType<typeof parseCommandArgs<typeof SERVE_COMMAND.flags>>['values'];

/** Runs until SIGTERM/SIGINT, then stops accepting, finishes (or at the drain deadline aborts) in-flight requests and resolves. */
export async function runServe(argv: string[], err: NodeJS.WritableStream): Promise<void> {
  const options = readServeOptions(argv);
  const logger = createLogger({ level: options.logLevel, format: options.logFormat, destination: err });
  await checkCanListen(options.port, options.host); // before the model loads: a busy port or a bad host is said at once
  const model = await loadModel(options.modelPath, {
    contextSize: options.contextSize,
    threads: options.threads,
    matmulPrecision: options.matmulPrecision,
    tokenizer: options.tokenizerPath,
    kvCacheType: options.kvCacheType,
    ...options.parallel,
  });
  const engine = createServingEngine(model, { maxNumSeqs: options.maxNumSeqs, maxQueueLength: options.maxQueueLength });
  // the vocabulary's byte trie for constrained decoding takes a second or more on a 128k vocabulary:
  // built here, before listening, rather than on the event loop of the first structured-output request
  const warmStart = performance.now();
  engine.constraints.compile({ type: 'json_object' });
  logger.debug(`constrained decoding ready in ${Math.round(performance.now() - warmStart)} ms`);
  const modelName = options.modelName ?? basename(options.modelPath).replace(/\.gguf$/i, '');
  const server = createServer(engine, {
    modelName,
    modelAliases: options.modelAliases,
    corsOrigins: options.corsOrigins,
    apiKey: options.apiKey,
    maxUnreadBytes: options.maxUnreadBytes,
    logger,
  });

  await listen(server, options.port, options.host);
  const address = server.address();
  const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
  logger.info(`serving ${modelName} (${model.info.architecture}, ${model.backendName}) on ${url}/v1`);
  if (model.backendName.startsWith('native')) logger.info(`native addon: ${describeNativeAddon(loadNativeAddon()).line}`);
  logger.info(`web page: ${url}/`);

  await serveUntilSignalled(server, engine, options.drainTimeoutSec, logger);
}

/**
 * The command line over the --config file over the --plan file, every value checked; a bad one in
 * a file is named with the file (and its key).
 */
function readServeOptions(argv: string[]): ServeOptions {
  const { values } = parseCommandArgs(argv, SERVE_COMMAND);
  const merged = values.config === undefined ? values : withConfigFile(values, values.config);
  return merged.plan === undefined ? toServeOptions(merged) : withPlanFile(merged, merged.plan);
}

/** The plan's settings under the flags' (a flag given wins); the plan's own values checked as flags are. */
function withPlanFile(values: ServeValues, path: string): ServeOptions {
  const plan = readPlanFile(path);
  const fromPlan = {
    model: plan.model,
    threads: String(plan.threads),
    'max-num-seqs': String(plan.maxNumSeqs),
    'tensor-parallel': String(plan.tensorParallel),
    'pipeline-parallel': String(plan.pipelineParallel),
    'parallel-transport': plan.parallelTransport,
    'kv-cache-type': plan.kvCacheType,
  };
  try {
    toServeOptions(fromPlan as ServeValues);
  } catch (e) {
    if (!(e instanceof InvalidRequestError)) throw e;
    throw new InvalidRequestError('INVALID_ARGUMENT', `--plan ${untrustedPath(path)}: ${e.message}`);
  }
  return toServeOptions(mergeFlagValues(fromPlan, values));
}

function withConfigFile(values: ServeValues, configPath: string): ServeValues {
  const file = readConfigFile(configPath, SERVE_COMMAND, ['config']);
  // each of the file's values on its own (every option is checked alone), so that an error names the key
  for (const [name, value] of Object.entries(file.values)) {
    try {
      toServeOptions({ [name]: value } as ServeValues);
    } catch (e) {
      if (!(e instanceof InvalidRequestError)) throw e;
      throw new InvalidRequestError('INVALID_ARGUMENT', `--config ${untrustedPath(configPath)}: '${untrustedText(file.keys[name]!)}': ${e.message}`);
    }
  }
  return mergeFlagValues(file.values as ServeValues, values);
}

function toServeOptions(values: ServeValues): ServeOptions {
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
  return {
    modelPath: values.model ?? DEFAULT_MODEL_PATH,
    tokenizerPath: values.tokenizer,
    host: values.host ?? '127.0.0.1',
    port,
    drainTimeoutSec,
    maxUnreadBytes,
    corsOrigins,
    apiKey: values['api-key'] ?? (process.env.PEREGRINE_API_KEY || undefined),
    modelName: values['model-name'],
    modelAliases: values['model-alias'],
    contextSize: positiveIntegerFlag(values['context-size'], '--context-size'),
    threads: threadsFlag(values.threads),
    parallel: parallelFlags(values),
    matmulPrecision: matmulPrecisionFlag(values['matmul-precision']) ?? 'fastest',
    kvCacheType: kvCacheTypeFlag(values['kv-cache-type']),
    maxNumSeqs: positiveIntegerFlag(values['max-num-seqs'], '--max-num-seqs'),
    maxQueueLength: positiveIntegerFlag(values['max-queue'], '--max-queue'),
    logLevel: choiceFlag(values['log-level'], '--log-level', LOG_LEVELS) ?? 'info',
    logFormat: choiceFlag(values['log-format'], '--log-format', LOG_FORMATS) ?? 'text',
  };
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
async function serveUntilSignalled(server: PeregrineServer, engine: ServingEngine, drainTimeoutSec: number, logger: Logger): Promise<void> {
  let numSignals = 0;
  let onFirstSignal: (signal: NodeJS.Signals) => void = () => {};
  const firstSignal = new Promise<NodeJS.Signals>((resolve) => (onFirstSignal = resolve));
  const stopNow = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    numSignals++;
    if (numSignals === 1) {
      onFirstSignal(signal);
    } else if (numSignals === 2) {
      logger.warn(`${signal} again: aborting in-flight requests`);
      stopNow.abort();
    } else {
      logger.error(`${signal} a third time: exiting now`);
      process.exit(1);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const signal = await firstSignal;
    logger.info(`${signal}: finishing in-flight requests (at most ${drainTimeoutSec} s; ${signal} again stops them now)`);
    try {
      const { drainEnd, numAborted } = await shutdownGracefully(server, engine, { drainTimeoutMs: drainTimeoutSec * 1000, signal: stopNow.signal });
      if (drainEnd === 'deadline') logger.warn(`drain deadline of ${drainTimeoutSec} s passed`);
      logger.info(numAborted > 0 ? `stopped; aborted ${numAborted} in-flight request${numAborted === 1 ? '' : 's'}` : 'stopped');
    } catch (e) {
      logger.error({ err: e }, 'shutdown failed');
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
