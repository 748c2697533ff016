import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism, constants as osConstants } from 'node:os';
import { runBenchmark } from '../../benchmark/run-benchmark.js';
import { DEFAULT_CONSTRAINTS } from '../../benchmark/scenario.js';
import { InvalidRequestError } from '../../errors/engine-error.js';
import { MODEL_SHAPE_NAMES } from '../../testing/model-shapes.js';
import { SYNTHETIC_WEIGHT_TYPES, type SyntheticWeightType } from '../../testing/synthetic-model.js';
import { KV_CACHE_TYPE_FLAG, PARALLEL_FLAGS, defineCommand, kvCacheTypeFlag, matmulPrecisionFlag, numberFlag, parallelFlags, parseCommandArgs, threadsFlag } from '../args.js';

const WEIGHT_TYPES: readonly string[] = SYNTHETIC_WEIGHT_TYPES;

export const BENCH_COMMAND = defineCommand({
  name: 'bench',
  synopsis: '[--model PATH|SHAPE] [options]',
  summary:
    'MLPerf-style SingleStream, Offline and Server (highest Poisson rate meeting TTFT p99 and time-per-token p99) ' +
    'on Peregrine and, when node-llama-cpp is installed, llama.cpp on the same file.',
  flags: {
    model: {
      type: 'string',
      arg: 'PATH|SHAPE',
      help: `a GGUF, or a shape written once with seeded weights: ${MODEL_SHAPE_NAMES.join(', ')}`,
      default: 'llama-3.2-1b',
    },
    type: { type: 'string', arg: 'T', help: `weights for a shape: ${WEIGHT_TYPES.join(', ')}`, default: 'Q4_0' },
    threads: { type: 'string', arg: 'N', help: "kernel threads (Peregrine's per worker with --tensor-parallel / --pipeline-parallel; llama.cpp then gets N × the workers)", default: 'all cores, divided among the workers' },
    ...PARALLEL_FLAGS,
    'matmul-precision': { type: 'string', arg: 'P', help: "Peregrine's Q8_0/Q4_0/Q4_K batch arithmetic, as serve: bf16, exact or fastest (bf16 with AMX, else exact)", default: 'fastest' },
    'kv-cache-type': { ...KV_CACHE_TYPE_FLAG, help: `${KV_CACHE_TYPE_FLAG.help}; llama.cpp gets the same type (f16 for fp8, which it lacks)` },
    'max-num-seqs': { type: 'string', arg: 'N', help: 'sequences batched at once in Offline and Server (SingleStream runs one)', default: '8' },
    requests: { type: 'string', arg: 'N', help: 'Offline requests; SingleStream uses N/4, Server at least N', default: '16' },
    'input-median': { type: 'string', arg: 'N', help: 'input length median, in tokens', default: '64' },
    'output-median': { type: 'string', arg: 'N', help: 'output length median, in tokens', default: '32' },
    'ttft-p99-ms': { type: 'string', arg: 'N', help: 'Server constraint: time to first token, p99', default: String(DEFAULT_CONSTRAINTS.ttftP99Ms) },
    'tpot-p99-ms': { type: 'string', arg: 'N', help: 'Server constraint: time per output token, p99', default: String(DEFAULT_CONSTRAINTS.tpotP99Ms) },
    seed: { type: 'string', arg: 'S', help: "seed of the requests' prompts and lengths", default: '1' },
    'server-seconds': { type: 'string', arg: 'S', help: "each Server trial's arrivals span at least S seconds", default: '10' },
    'server-trials': { type: 'string', arg: 'N', help: 'Server rates tried per engine, starting at its Offline req/s', default: '4' },
    'server-requests': { type: 'string', arg: 'N', help: 'each Server trial issues at least N requests', default: '--requests when given, else 8' },
    'no-early-stop': { type: 'boolean', help: 'run every Server trial to the end, even once its TTFT p99 is out of reach' },
    'no-peer': { type: 'boolean', help: 'skip llama.cpp' },
    out: { type: 'string', arg: 'DIR', help: 'results folder', default: 'bench-results' },
    history: { type: 'string', arg: 'FILE', help: 'performance history to append to', default: 'BENCHMARKS.md' },
  },
});

/**
 * llama.cpp (node-llama-cpp) runs best with a libuv thread pool of one thread, which only takes
 * effect when set before Node starts: without it, the benchmark runs itself again in a child
 * process with UV_THREADPOOL_SIZE=1 (signals passed on) and returns that process's exit status.
 */
async function rerunWithThreadpoolOfOne(err: NodeJS.WritableStream): Promise<number> {
  err.write('peregrine bench: running again with UV_THREADPOOL_SIZE=1 (llama.cpp\'s best setting; set it yourself to skip this)\n');
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
  });
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    return code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1);
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
}

export async function runBench(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number | void> {
  const { values } = parseCommandArgs(argv, BENCH_COMMAND);
  const weightType = values.type ?? 'Q4_0';
  if (!WEIGHT_TYPES.includes(weightType)) {
    throw new InvalidRequestError('INVALID_ARGUMENT', `--type must be one of ${WEIGHT_TYPES.join(', ')} (got '${weightType}')`);
  }
  const positive = (v: unknown, flag: string, fallback: number): number => {
    const n = numberFlag(v, flag, { integer: true }) ?? fallback;
    if (n < 1) throw new InvalidRequestError('INVALID_ARGUMENT', `${flag} must be at least 1 (got ${n})`);
    return n;
  };
  const numRequests = positive(values.requests, '--requests', 16);
  const inputMedian = positive(values['input-median'], '--input-median', 64);
  const outputMedian = positive(values['output-median'], '--output-median', 32);
  const parallel = parallelFlags(values);
  const numWorkers = (parallel.tensorParallel ?? 1) * (parallel.pipelineParallel ?? 1);
  const threads = threadsFlag(values.threads) ?? Math.max(1, Math.floor(availableParallelism() / numWorkers));
  if (!values['no-peer'] && process.env.UV_THREADPOOL_SIZE !== '1') return rerunWithThreadpoolOfOne(err);
  const markdown = await runBenchmark({
    model: values.model ?? 'llama-3.2-1b',
    weightType: weightType as SyntheticWeightType,
    threads,
    parallel: numWorkers === 1 ? undefined : { tensorParallel: parallel.tensorParallel ?? 1, pipelineParallel: parallel.pipelineParallel ?? 1, transport: parallel.parallelTransport ?? 'shared-memory' },
    matmulPrecision: matmulPrecisionFlag(values['matmul-precision']) ?? 'fastest',
    kvCacheType: kvCacheTypeFlag(values['kv-cache-type']) ?? 'f16',
    maxNumSeqs: positive(values['max-num-seqs'], '--max-num-seqs', 8),
    numSingleStream: Math.max(2, Math.round(numRequests / 4)),
    numOffline: numRequests,
    numServer: positive(values['server-requests'], '--server-requests', values.requests === undefined ? 8 : numRequests),
    maxServerTrials: positive(values['server-trials'], '--server-trials', 4),
    startRatePerSecond: undefined,
    canStopEarly: !values['no-early-stop'],
    minServerSeconds: positive(values['server-seconds'], '--server-seconds', 10),
    inputLength: { kind: 'lognormal', median: inputMedian, sigma: 0.6, min: Math.max(4, inputMedian >> 2), max: inputMedian * 4 },
    outputLength: { kind: 'lognormal', median: outputMedian, sigma: 0.5, min: Math.max(4, outputMedian >> 2), max: outputMedian * 4 },
    constraints: {
      ttftP99Ms: positive(values['ttft-p99-ms'], '--ttft-p99-ms', DEFAULT_CONSTRAINTS.ttftP99Ms),
      tpotP99Ms: positive(values['tpot-p99-ms'], '--tpot-p99-ms', DEFAULT_CONSTRAINTS.tpotP99Ms),
    },
    seed: numberFlag(values.seed, '--seed', { integer: true }) ?? 1,
    hasPeer: !values['no-peer'],
    outDir: values.out ?? 'bench-results',
    historyPath: values.history ?? 'BENCHMARKS.md',
    log: (line) => err.write(`peregrine bench: ${line}\n`),
  });
  out.write(markdown);
}
