/**
 * Single-request decode steps of the synthetic Llama-3.2-1B Q4_0 on one backend (2 threads, in
 * this process) against TP=2 over worker threads (1 kernel thread each, shared-memory transport),
 * both loaded at once and run in turn within each round (the order rotating), with
 * executor.forward / model.forward directly (no engine):
 *   UV_THREADPOOL_SIZE=1 npx vite-node bench/tp-decode.ts -- [--steps=64] [--rounds=3]
 * Prints each round's median step time per layout, the CPU time per step of the whole process and,
 * for each thread that used more than 5% of the round, its CPU time and its time runnable but
 * waiting for a core, per step (/proc/self/task/<tid>/schedstat, Linux), then TP=2's
 * per-round speed ratio to one worker and its median.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { readModel } from '../src/formats/read-model.js';
import { resolveBenchModel } from '../src/benchmark/run-benchmark.js';
import { selectBackend } from '../src/kernels/select-backend.js';
import { createModel } from '../src/models/registry.js';
import { Workspace } from '../src/models/workspace.js';
import { startParallelExecutor } from '../src/parallel/start-parallel-executor.js';
import { buildForwardBatch, type BatchSequence } from '../src/runner/build-forward-batch.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const steps = Number(args.get('steps') ?? 64);
const rounds = Number(args.get('rounds') ?? 3);
const PROMPT = 64;
const BLOCK = 16;
const BLOCKS = 16;
const log = (s: string) => process.stderr.write(s + '\n');
const path = resolveBenchModel('llama-3.2-1b', 'Q4_0', log);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;

const backend = selectBackend('auto', { threads: 2 });
const model = createModel(readModel(path), backend, { contextSize: 512 });
const c = model.config;
const kv = backend.allocateKvCache({ numLayers: c.numLayers, kvDim: c.numKvHeads * c.headDim, numBlocks: BLOCKS, blockSize: BLOCK, dtype: 'f16' });
const tp = await startParallelExecutor(path, { tensorParallel: 2, pipelineParallel: 1, transport: 'shared-memory', contextSize: 512, threadsPerWorker: 1 });
await tp.allocateKvCache({ numBlocks: BLOCKS, blockSize: BLOCK, dtype: 'f16' });
log(`backends: one ${backend.name}, tp ${tp.backendNames.join(',')}; load ${loadavg()[0]!.toFixed(2)}`);
const ws = new Workspace(backend);
const table = Int32Array.from({ length: BLOCKS }, (_, i) => i);
const prompt = Array.from({ length: PROMPT }, (_, i) => 1 + ((i * 7919) % 1000));

const oneStep = (seq: BatchSequence): number => {
  const out = model.forward(buildForwardBatch([seq], BLOCK, ws), kv);
  backend.read(out).slice(0, c.vocabSize);
  return model.argmaxRows(out, 1)[0]!;
};
const tpStep = async (seq: BatchSequence): Promise<number> => (await tp.forward([buildForwardBatch([seq], BLOCK, ws)])).argmax[0]!;
/** per thread of this process, by thread id with its name: [CPU ms, ms runnable but waiting for a core] (/proc/<tid>/schedstat) */
const threadTimesMs = (): Map<string, readonly [number, number]> => {
  const out = new Map<string, readonly [number, number]>();
  let dir: string[] = [];
  try {
    dir = readdirSync('/proc/self/task');
  } catch {
    return out; // not Linux
  }
  for (const tid of dir) {
    try {
      const [runNs, waitNs] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      out.set(`${tid}:${readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()}`, [runNs! / 1e6, waitNs! / 1e6]);
    } catch {
      // the thread ended
    }
  }
  return out;
};
const names = ['one x2', 'TP=2 x1'];
const medians: number[][] = names.map(() => []);
for (let r = 0; r < rounds; r++) {
  for (let j = 0; j < names.length; j++) {
    const k = (j + r) % names.length;
    const times: number[] = [];
    const step = async (seq: BatchSequence): Promise<number> => (k === 0 ? oneStep(seq) : tpStep(seq));
    let tok = await step({ tokenIds: prompt, startPosition: 0, blockTable: table, logitRows: [PROMPT - 1] });
    const cpu0 = process.cpuUsage();
    const threads0 = threadTimesMs();
    const wall0 = performance.now();
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now();
      tok = await step({ tokenIds: [tok], startPosition: PROMPT + s, blockTable: table, logitRows: [0] });
      times.push(performance.now() - t0);
    }
    const wallMs = performance.now() - wall0;
    const cpu = process.cpuUsage(cpu0);
    const busy = [...threadTimesMs()]
      .map(([name, [run, wait]]) => [name, run - (threads0.get(name)?.[0] ?? 0), wait - (threads0.get(name)?.[1] ?? 0)] as const)
      .filter(([, run]) => run > 0.05 * wallMs)
      .map(([name, run, wait]) => `${name} ${(run / steps).toFixed(1)}/${(wait / steps).toFixed(1)}`);
    medians[k]!.push(median(times));
    log(`round ${r + 1} ${names[k]}: median step ${median(times).toFixed(2)} ms (${(1000 / median(times)).toFixed(1)} tok/s); mean ${(wallMs / steps).toFixed(2)} ms, CPU ${((cpu.user + cpu.system) / 1000 / steps).toFixed(2)} ms/step, busy threads' CPU/run-queue wait ms/step [${busy.join(', ')}]; load ${loadavg()[0]!.toFixed(2)}`);
  }
}
const ratios = medians[1]!.map((m, r) => medians[0]![r]! / m);
log(`TP=2 x1 / one x2 decode speed, per round: ${ratios.map((x) => x.toFixed(3)).join(' ')}; median ${median(ratios).toFixed(3)}`);
await tp.close();
kv.dispose();
model.dispose();
ws.dispose();
backend.dispose();
