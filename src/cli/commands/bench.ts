import { availableParallelism } from 'node:os';
import { runBenchmark } from '../../benchmark/run-benchmark.js';
import { DEFAULT_CONSTRAINTS } from '../../benchmark/scenario.js';
import { InvalidRequestError } from '../../errors/engine-error.js';
import type { SyntheticWeightType } from '../../models/synthetic-model.js';
import { matmulPrecisionFlag, numberFlag, parseCommandArgs } from '../args.js';

export const BENCH_USAGE = `peregrine bench [--model PATH|SHAPE] [options]
  MLPerf-style SingleStream, Offline and Server (highest Poisson rate meeting TTFT p99 and
  time-per-token p99) on Peregrine and, when node-llama-cpp is installed, llama.cpp on the same file.
  --model PATH|SHAPE      a GGUF, or a shape written with seeded weights: llama-3.2-1b (default),
                          llama-3.1-8b, llama-110m, tiny
  --type T                weights for a shape: Q4_0 (default), Q8_0, F16, BF16, Q4_K, Q6_K, Q4_K_M
  --threads N             kernel threads (default: all cores)
  --matmul-precision P    Peregrine's Q8_0/Q4_0/Q4_K batch arithmetic, as serve: bf16 (default) or exact
  --max-num-seqs N        sequences batched at once (default 8)
  --requests N            Offline requests (default 16); SingleStream uses N/4, Server at least N
  --server-requests N     each Server trial issues at least N requests (default: --requests when
                          given, else 8)
  --server-seconds S      each Server trial's arrivals span at least S seconds (default 10)
  --server-trials N       Server rates tried per engine, starting at its Offline req/s (default 4)
  --no-early-stop         run every Server trial to the end, even once its TTFT p99 is out of reach
  --input-median N        input length median (default 64); --output-median N (default 32)
  --ttft-p99-ms N         Server constraint (default 2000); --tpot-p99-ms N (default 200)
  --no-peer               skip llama.cpp
  --out DIR               results folder (default bench-results); --history FILE (default BENCHMARKS.md)`;

const WEIGHT_TYPES = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_K', 'Q5_K', 'Q6_K', 'Q4_K_M', 'Q5_K_M'];

export async function runBench(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  const { values } = parseCommandArgs(argv, {
    model: { type: 'string' },
    type: { type: 'string' },
    threads: { type: 'string' },
    'matmul-precision': { type: 'string' },
    'max-num-seqs': { type: 'string' },
    requests: { type: 'string' },
    'input-median': { type: 'string' },
    'output-median': { type: 'string' },
    'ttft-p99-ms': { type: 'string' },
    'tpot-p99-ms': { type: 'string' },
    seed: { type: 'string' },
    'server-seconds': { type: 'string' },
    'server-trials': { type: 'string' },
    'server-requests': { type: 'string' },
    'no-early-stop': { type: 'boolean' },
    'no-peer': { type: 'boolean' },
    out: { type: 'string' },
    history: { type: 'string' },
  });
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
  const markdown = await runBenchmark({
    model: values.model ?? 'llama-3.2-1b',
    weightType: weightType as SyntheticWeightType,
    threads: positive(values.threads, '--threads', availableParallelism()),
    matmulPrecision: matmulPrecisionFlag(values['matmul-precision']) ?? 'bf16',
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
