/**
 * The cost of tensor parallelism on this machine, per transport (issue 20):
 * - all-reduce latency between 2 workers for 2048 and 8192 floats (a hidden state of a 1B and an
 *   8B model: the per-block overhead TP adds to a decode step), timed inside the workers;
 * - the decode step (1 token) of one gated MLP of the Llama-3.2-1B shape (hidden 2048, FFN 8192,
 *   Q4_0): TP=2 with 1 kernel thread per worker against one backend with 2 threads.
 * Rounds alternate single / shared-memory / socket; each figure is the median over rounds of each
 * round's median. On a shared machine, read the load average printed with it.
 *
 *   npx vite-node bench/parallel-transport.ts -- [--rounds=3] [--iterations=200] [--mlp-iterations=40]
 */
import { availableParallelism, loadavg } from 'node:os';
import { GgmlType } from '../src/formats/ggml-type.js';
import type { WeightTensor } from '../src/kernels/kernel-backend.js';
import { selectBackend } from '../src/kernels/select-backend.js';
import { DeviceGroup } from '../src/parallel/device-group.js';
import { shardGatedMlp } from '../src/parallel/tensor-parallel-mlp.js';
import { TRANSPORT_KINDS, type TransportKind } from '../src/parallel/transport.js';
import { stackRows } from '../src/parallel/weight-split.js';
import { quantize } from '../src/quant/index.js';
import { Rng } from '../src/util/rng.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const numRounds = Number(args.get('rounds') ?? 3);
const numIterations = Number(args.get('iterations') ?? 200);
const numMlpIterations = Number(args.get('mlp-iterations') ?? 40);
const HIDDEN = 2048;
const FFN = 8192;
const SIZES = [2048, 8192];

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function randomQ4(rng: Rng, numRows: number, numCols: number, name: string): WeightTensor {
  const values = new Float32Array(numRows * numCols);
  for (let i = 0; i < values.length; i++) values[i] = (rng.next() - 0.5) / 16;
  return { name, type: GgmlType.Q4_0, numRows, numCols, data: quantize(GgmlType.Q4_0, values) };
}

console.error('quantizing the MLP weights (Q4_0, 2048 x 8192 x 3)...');
const rng = new Rng(1);
const gate = randomQ4(rng, FFN, HIDDEN, 'gate');
const up = randomQ4(rng, FFN, HIDDEN, 'up');
const down = randomQ4(rng, HIDDEN, FFN, 'down');
const x = Float32Array.from({ length: HIDDEN }, () => rng.gaussian());

const single = selectBackend('auto', { threads: 2 });
const singleGateUp = single.uploadWeight(stackRows('gate_up', [gate, up]), 'matmul');
const singleDown = single.uploadWeight(down, 'matmul');
const gateUpOut = new Float32Array(2 * FFN);
const out = new Float32Array(HIDDEN);

/** a round's figures: the median run and the fastest run (the least disturbed by other load) */
interface Timing {
  readonly median: number;
  readonly best: number;
}

function summarize(times: readonly number[]): Timing {
  const kept = times.slice(Math.floor(times.length / 5)); // the first fifth warms up
  return { median: median(kept), best: Math.min(...kept) };
}

function timeSingleMlp(): Timing {
  const times: number[] = [];
  for (let i = 0; i < numMlpIterations; i++) {
    const start = performance.now();
    single.matmul(gateUpOut, singleGateUp, x, 1);
    single.matmulSwiglu(out, singleDown, gateUpOut, 1);
    times.push(performance.now() - start);
  }
  return summarize(times);
}

const groups = new Map<TransportKind, DeviceGroup>();
for (const transport of TRANSPORT_KINDS) {
  const group = await DeviceGroup.start({ worldSize: 2, transport, threadsPerWorker: 1 });
  await group.runAll((rank) => {
    const shard = shardGatedMlp(gate, up, down, rank, 2);
    return { kind: 'loadWeights', weights: [{ ...shard.gateUp, name: 'gateUp' }, { ...shard.down, name: 'down' }] };
  });
  groups.set(transport, group);
}
console.error(`single backend: ${single.name}, 2 threads; workers: ${groups.get('shared-memory')!.backendNames.join(', ')}, 1 thread each`);

/** rank 0's runs, as the worker timed them */
async function timeOnGroup(group: DeviceGroup, command: (rank: number) => Parameters<DeviceGroup['run']>[1]): Promise<Timing> {
  const [r0] = await group.runAll(command);
  return summarize(r0!.elapsedMs);
}

const rounds: Record<string, Timing[]> = {};
const record = (key: string, t: Timing): void => void (rounds[key] ??= []).push(t);
for (let round = 0; round < numRounds; round++) {
  record('single', timeSingleMlp());
  for (const [transport, group] of groups) {
    for (const n of SIZES) {
      const data = Float32Array.from({ length: n }, (_, i) => i % 7);
      record(`${transport} allReduce ${n}`, await timeOnGroup(group, () => ({ kind: 'allReduceSum', data, repeat: numIterations })));
    }
    record(`${transport} mlp`, await timeOnGroup(group, () => ({ kind: 'mlpForward', gateUp: 'gateUp', down: 'down', x, numTokens: 1, repeat: numMlpIterations })));
  }
}
for (const group of groups.values()) await group.close();
(single as Partial<Disposable>)[Symbol.dispose]?.();

/** the median over rounds of the rounds' medians, and the best run of all */
const m = (key: string): Timing => ({ median: median(rounds[key]!.map((t) => t.median)), best: Math.min(...rounds[key]!.map((t) => t.best)) });
const us = (t: Timing): string => `${(t.median * 1000).toFixed(0)} µs (best ${(t.best * 1000).toFixed(0)})`;
const ms = (t: Timing): string => `${t.median.toFixed(2)} ms (best ${t.best.toFixed(2)})`;
const overhead = (a: number, b: number): string => `${a >= b ? '+' : ''}${((a / b - 1) * 100).toFixed(0)}%`;
const base = m('single');
console.log(`\nload average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores; ${numRounds} rounds; median (best run)`);
console.log('\n| transport | allReduce 2048 floats | allReduce 8192 floats | TP=2 MLP decode, 1 thread/worker | vs single backend, 2 threads: median (best) |');
console.log('|---|---|---|---|---|');
for (const transport of groups.keys()) {
  const mlp = m(`${transport} mlp`);
  console.log(`| ${transport} | ${us(m(`${transport} allReduce 2048`))} | ${us(m(`${transport} allReduce 8192`))} | ${ms(mlp)} | ${overhead(mlp.median, base.median)} (${overhead(mlp.best, base.best)}) |`);
}
console.log(`| single backend (${single.name}, 2 threads) | | | ${ms(base)} | |`);
