/**
 * One engine step of the serving benchmark's shapes, split by kernel op: N decode sequences (one
 * token each, `--context` tokens of history) and a prefill of P tokens (one sequence), on the
 * Llama-3.2-1B-shaped file bench:serving uses, with the native backend as loadModel makes it.
 *
 *   npx vite-node bench/serving-step.ts [--type=Q4_0] [--threads=2] [--addon=path/to/peregrine.node] [--decode=8,16,32] [--prefill=64,512] [--context=96] [--repeats=3]
 */
import { readGguf } from '../src/formats/gguf/index.js';
import type { KvCache } from '../src/kernels/kernel-backend.js';
import { probeNativeBackend, type NativeBackend } from '../src/kernels/native/native-backend.js';
import { LlamaModel, parseLlamaConfig } from '../src/models/llama.js';
import { Workspace } from '../src/models/workspace.js';
import { buildForwardBatch, type BatchSequence } from '../src/runner/build-forward-batch.js';
import { resolveBenchModel } from '../src/benchmark/run-benchmark.js';
import type { SyntheticWeightType } from '../src/testing/synthetic-model.js';
import { profiledBackend } from './op-profiler.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const type = (args.get('type') ?? 'Q4_0') as SyntheticWeightType;
const threads = Number(args.get('threads') ?? 2);
const decodeCounts = (args.get('decode') ?? '8,16,32').split(',').filter(Boolean).map(Number);
const prefillCounts = (args.get('prefill') ?? '64,512').split(',').filter(Boolean).map(Number);
const context = Number(args.get('context') ?? 96);
const repeats = Number(args.get('repeats') ?? 3);
const path = resolveBenchModel('llama-3.2-1b', type, (line) => process.stderr.write(line + '\n'));
const file = readGguf(path);
const config = parseLlamaConfig(file);

const opSeconds = new Map<string, number>();
const profiled = (backend: NativeBackend): NativeBackend => profiledBackend(backend, opSeconds);

const probe = probeNativeBackend({ threads, addonPath: args.get('addon') });
if (!probe.ok) throw new Error(probe.reason);
const backend = probe.backend;
const model = new LlamaModel(config, file, profiled(backend));
const blockSize = 16;
const maxSeqs = Math.max(1, ...decodeCounts);
const blocksPerSeq = Math.ceil(Math.max(context + 1, ...prefillCounts) / blockSize);
const kv: KvCache = backend.allocateKvCache({ numLayers: config.numLayers, kvDim: config.numKvHeads * config.headDim, numBlocks: maxSeqs * blocksPerSeq, blockSize, dtype: 'f16' });
const table = (s: number): Int32Array => Int32Array.from({ length: blocksPerSeq }, (_, i) => s * blocksPerSeq + i);
const ws = new Workspace(backend);

function step(sequences: BatchSequence[]): number {
  const t = performance.now();
  model.backend.read(model.forward(buildForwardBatch(sequences, blockSize, ws), kv));
  return (performance.now() - t) / 1e3;
}

function report(label: string, tokens: number, run: () => number): void {
  run(); // warm-up
  opSeconds.clear();
  let total = 0;
  const cpu0 = process.cpuUsage();
  for (let r = 0; r < repeats; r++) total += run();
  const cpu = process.cpuUsage(cpu0);
  const per = total / repeats;
  const cpuPer = (cpu.user + cpu.system) / 1e6 / repeats;
  const ops = [...opSeconds].map(([k, v]) => [k, v / repeats] as const).sort((a, b) => b[1] - a[1]);
  const matmul = ops.filter(([k]) => k.startsWith('matmul')).reduce((a, [, v]) => a + v, 0);
  const attention = ops.filter(([k]) => k.startsWith('attention')).reduce((a, [, v]) => a + v, 0);
  console.log(
    `${label}: ${(per * 1e3).toFixed(1)} ms/step, ${((per * 1e3) / tokens).toFixed(2)} ms/token (process CPU ${(cpuPer * 1e3).toFixed(1)} ms/step); matmul ${(matmul * 1e3).toFixed(1)}, attention ${(attention * 1e3).toFixed(1)}, other ${((per - matmul - attention) * 1e3).toFixed(1)} ms`,
  );
  for (const [k, v] of ops.slice(0, 8)) console.log(`    ${k.padEnd(28)} ${(v * 1e3).toFixed(1).padStart(7)} ms`);
}

const ids = (n: number, s: number): number[] => Array.from({ length: n }, (_, j) => 1000 + ((s * 104729 + j * 7919) % 100000));
for (const n of decodeCounts) {
  const seqs = Array.from({ length: n }, (_, s) => ({ tokenIds: ids(1, s), startPosition: context, blockTable: table(s), logitRows: [0] }));
  report(`decode ${n} seqs (context ${context})`, n, () => step(seqs));
}
for (const p of prefillCounts) {
  report(`prefill ${p} tokens`, p, () => step([{ tokenIds: ids(p, 0), startPosition: 0, blockTable: table(0), logitRows: [p - 1] }]));
}
kv.dispose();
backend.dispose();
