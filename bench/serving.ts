/**
 * `npm run bench:serving`: N concurrent streams (1, 4, 8, 16, 32) on the synthetic 1B-shaped Q4_0
 * model: total output tokens/s, TTFT and time per output token p50/p99, for Peregrine's in-flight
 * batching engine and for node-llama-cpp 3.21.1 with the same number of parallel sequences, in
 * the same run.
 *
 *   npm run bench:serving -- [--streams=1,4,8,16,32] [--prompt=64] [--output=64] [--threads=2] [--type=Q4_0] [--matmul-precision=fastest|bf16|exact] [--update-readme]
 *
 * Peregrine runs as `peregrine serve` does, with matmul precision fastest (bf16 batches on AMX tiles,
 * exact elsewhere); --matmul-precision=exact gives llama.cpp's arithmetic bit for bit, bf16 the bf16 batches
 * (AMX, or vdpbf16ps on AVX-512-BF16, slower than exact there).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { loadModel } from '../src/api/index.js';
import { AsyncEngine } from '../src/engine/async-engine.js';
import { fastestMatmulPrecision, type MatmulPrecision } from '../src/kernels/native/native-backend.js';
import type { NativeIsa } from '../src/kernels/native/native-addon.js';
import type { SyntheticWeightType } from '../src/testing/synthetic-model.js';
import { resolveBenchModel } from '../src/benchmark/run-benchmark.js';
import { benchCpu, describeCpu, updateReadmeBlock } from './readme-tables.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const streamCounts = (args.get('streams') ?? '1,4,8,16,32').split(',').map(Number);
const numPrompt = Number(args.get('prompt') ?? 64);
const numOutput = Number(args.get('output') ?? 64);
const threads = Number(args.get('threads') ?? 2);
const type = (args.get('type') ?? 'Q4_0') as SyntheticWeightType;
const matmulPrecision = (args.get('matmul-precision') ?? 'fastest') as MatmulPrecision;
const root = resolve(import.meta.dirname, '..');
const path = resolveBenchModel('llama-3.2-1b', type, (line) => process.stderr.write(line + '\n'));
const VOCAB = 128256;

interface Result {
  readonly tokensPerSecond: number;
  readonly ttftP50Ms: number;
  readonly ttftP99Ms: number;
  readonly tpotP50Ms: number;
  readonly tpotP99Ms: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** distinct prompts so no prefix is shared (prefix caching would flatter us) */
function prompt(i: number): number[] {
  return Array.from({ length: numPrompt }, (_, j) => 1000 + ((i * 104729 + j * 7919) % (VOCAB - 2000)));
}

function summarize(starts: number[], firsts: number[][], ends: number[], wallMs: number, counts: number[]): Result {
  const ttft = firsts.map((f, i) => f[0]! - starts[i]!);
  const tpot = firsts.map((f, i) => (ends[i]! - f[0]!) / Math.max(1, counts[i]! - 1));
  const total = counts.reduce((a, b) => a + b, 0);
  return {
    tokensPerSecond: (total * 1000) / wallMs,
    ttftP50Ms: percentile(ttft, 50),
    ttftP99Ms: percentile(ttft, 99),
    tpotP50Ms: percentile(tpot, 50),
    tpotP99Ms: percentile(tpot, 99),
  };
}

async function runPeregrine(numStreams: number): Promise<Result> {
  const model = await loadModel(path, { contextSize: numPrompt + numOutput + 16, backend: 'native', threads, matmulPrecision });
  const engine = new AsyncEngine(model, { maxNumSeqs: numStreams, maxNumBatchedTokens: 512 });
  // warm-up: first touch of the weights and the KV cache
  for await (const _chunk of engine.generate(prompt(numStreams), { temperature: 0, maxTokens: 4, ignoreEos: true }));
  const starts: number[] = [];
  const firsts: number[][] = [];
  const ends: number[] = [];
  const counts: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: numStreams }, async (_, i) => {
      starts[i] = performance.now();
      firsts[i] = [];
      counts[i] = 0;
      for await (const chunk of engine.generate(prompt(i), { temperature: 0, maxTokens: numOutput, ignoreEos: true })) {
        if (chunk.tokenIds.length === 0) continue;
        if (counts[i] === 0) firsts[i]!.push(performance.now());
        counts[i]! += chunk.tokenIds.length;
      }
      ends[i] = performance.now();
    }),
  );
  const wall = performance.now() - t0;
  await engine.shutdown();
  return summarize(starts, firsts, ends, wall, counts);
}

async function runLlamaCpp(numStreams: number): Promise<Result> {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: 0, progressLogs: false, skipDownload: true });
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: numStreams * (numPrompt + numOutput + 16),
    sequences: numStreams,
    batchSize: 512,
    threads,
    flashAttention: 'auto',
  });
  const sequences = Array.from({ length: numStreams }, () => context.getSequence());
  // warm-up: first touch of the weights
  for await (const _token of sequences[0]!.evaluate(prompt(numStreams) as Token[], { temperature: 0 })) break;
  await sequences[0]!.clearHistory();
  const starts: number[] = [];
  const firsts: number[][] = [];
  const ends: number[] = [];
  const counts: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: numStreams }, async (_, i) => {
      const sequence = sequences[i]!;
      starts[i] = performance.now();
      firsts[i] = [];
      counts[i] = 0;
      for await (const _token of sequence.evaluate(prompt(i) as Token[], { temperature: 0, yieldEogToken: true })) {
        if (counts[i] === 0) firsts[i]!.push(performance.now());
        if (++counts[i]! >= numOutput) break;
      }
      ends[i] = performance.now();
    }),
  );
  const wall = performance.now() - t0;
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return summarize(starts, firsts, ends, wall, counts);
}

const f = (x: number): string => x.toFixed(1);
const lines = [
  `| streams | total tok/s (Peregrine / llama.cpp) | ratio | TTFT p50 / p99 ms (Peregrine) | (llama.cpp) | TPOT p50 / p99 ms (Peregrine) | (llama.cpp) |`,
  '|---|---|---|---|---|---|---|',
];
const rows = [];
for (const n of streamCounts) {
  process.stderr.write(`${n} streams: Peregrine ...\n`);
  const ours = await runPeregrine(n);
  process.stderr.write(`${n} streams: llama.cpp ...\n`);
  const peer = await runLlamaCpp(n);
  rows.push({ streams: n, peregrine: ours, llamaCpp: peer });
  const line = `| ${n} | ${f(ours.tokensPerSecond)} / ${f(peer.tokensPerSecond)} | ${(ours.tokensPerSecond / peer.tokensPerSecond).toFixed(2)}x | ${f(ours.ttftP50Ms)} / ${f(ours.ttftP99Ms)} | ${f(peer.ttftP50Ms)} / ${f(peer.ttftP99Ms)} | ${f(ours.tpotP50Ms)} / ${f(ours.tpotP99Ms)} | ${f(peer.tpotP50Ms)} / ${f(peer.tpotP99Ms)} |`;
  lines.push(line);
  process.stderr.write(line + '\n');
}
const cpu = benchCpu();
const precisionNote =
  matmulPrecision === 'fastest'
    ? `fastest (${fastestMatmulPrecision(cpu.isa as NativeIsa)} on this CPU)`
    : matmulPrecision === 'bf16' && cpu.isa !== 'amx' && cpu.isa !== 'avx512-bf16'
      ? 'bf16 (exact in effect: no bf16 batches without AMX or AVX-512-BF16)'
      : matmulPrecision;
const header = `${describeCpu(cpu)}: llama-3.2-1b ${type}, ${threads} threads, prompt ${numPrompt} tokens, output ${numOutput} tokens per stream, Peregrine matmul precision ${precisionNote}`;
console.log(`${header}\n\n${lines.join('\n')}`);
if (args.has('update-readme')) {
  updateReadmeBlock(join(root, 'README.md'), 'serving', cpu.kind, `${header} (\`npm run bench:serving -- --update-readme\`, ${new Date().toISOString().slice(0, 10)}):\n\n${lines.join('\n')}`);
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, `bench/results/serving-${cpu.kind}.json`), JSON.stringify({ date: new Date().toISOString(), cpu, type, threads, matmulPrecision, numPrompt, numOutput, rows }, null, 2) + '\n');
