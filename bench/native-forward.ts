/**
 * One Llama forward step on the native backend: prefill (64 tokens) and decode (1 token), in
 * tokens/s, on a synthetic Q4_0 / Q8_0 model with Llama-3.2-1B layer shapes (fewer layers, smaller
 * vocab), plus a logits check against the reference backend; optionally llama.cpp on the same file.
 *
 *   npx vite-node bench/native-forward.ts [--type=Q4_0] [--layers=4] [--threads=1,2] [--prefill=64] [--llama-cpp] [--skip-reference] [--profile]
 *
 * --profile prints the time each kernel op took during the prefill and the decode steps.
 *
 * The native backend runs twice per thread count: on the weights as loaded, and with
 * packWeights (Q4_0 / Q8_0 repacked into 16-row interleaved, huge-page memory).
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGguf } from '../src/formats/gguf/index.js';
import type { KvCache } from '../src/kernels/kernel-backend.js';
import { probeNativeBackend, type NativeBackend } from '../src/kernels/native/native-backend.js';
import { ReferenceBackend } from '../src/kernels/reference/reference-backend.js';
import type { ForwardBatch } from '../src/models/forward-batch.js';
import { Workspace } from '../src/models/workspace.js';
import { LlamaModel, parseLlamaConfig } from '../src/models/llama.js';
import { buildForwardBatch } from '../src/runner/build-forward-batch.js';
import type { ModelShape } from '../src/testing/model-shapes.js';
import { writeSyntheticModel, type SyntheticWeightType } from '../src/testing/synthetic-model.js';
import { profiledBackend } from './op-profiler.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const weightType = (args.get('type') ?? 'Q4_0') as SyntheticWeightType;
const numLayers = Number(args.get('layers') ?? 4);
const threadCounts = (args.get('threads') ?? '1,2').split(',').map(Number);
const numPrefill = Number(args.get('prefill') ?? 64);
const numDecode = 16;

const shape: ModelShape = {
  name: `bench-1b-${numLayers}l`,
  dim: 2048, numLayers, numHeads: 32, numKvHeads: 8, headDim: 64, ffnDim: 8192,
  vocabSize: 32000, contextLength: 4096, ropeTheta: 500000, rmsNormEps: 1e-5,
  hasTiedEmbeddings: true, vocabKind: 'spm',
};
const path = join(tmpdir(), `peregrine-${shape.name}-${weightType}.gguf`);
if (!existsSync(path)) {
  const t0 = performance.now();
  const info = writeSyntheticModel(path, { shape, weightType, seed: 1 });
  console.log(`wrote ${path}: ${(info.numParams / 1e6).toFixed(0)}M params, ${(info.fileBytes / 1e6).toFixed(0)} MB in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
}
const file = readGguf(path);
const config = parseLlamaConfig(file);
const prompt = Int32Array.from({ length: numPrefill }, (_, i) => 300 + ((i * 7919) % 30000));

function batchOf(model: LlamaModel, tokenIds: Int32Array, start: number, blockTable: Int32Array, kv: KvCache): ForwardBatch {
  return buildForwardBatch([{ tokenIds: [...tokenIds], startPosition: start, blockTable, logitRows: [tokenIds.length - 1] }], kv.spec.blockSize, new Workspace(model.backend));
}

interface Run {
  readonly prefillSeconds: number;
  readonly prefillCpuSeconds: number;
  readonly decodeSeconds: number[];
  /** mean process CPU per decode step (all threads) */
  readonly decodeCpuSeconds: number;
  readonly logits: Float32Array;
}

/** prefill the prompt, then decode `decodeSteps` greedy tokens; returns per-phase wall times */
function run(model: LlamaModel, decodeSteps: number, promptTokens = prompt): Run {
  const blockSize = 16;
  const numBlocks = Math.ceil((promptTokens.length + decodeSteps) / blockSize) + 1;
  const kv = model.backend.allocateKvCache({ numLayers: config.numLayers, kvDim: config.numKvHeads * config.headDim, numBlocks, blockSize, dtype: 'f16' });
  const blockTable = Int32Array.from({ length: numBlocks }, (_, i) => numBlocks - 1 - i); // not the identity
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let logits = model.backend.read(model.forward(batchOf(model, promptTokens, 0, blockTable, kv), kv));
  const prefillSeconds = (performance.now() - t0) / 1e3;
  const prefillCpuSeconds = cpuSeconds(cpu0);
  const cpu1 = process.cpuUsage();
  const first = logits.slice();
  const decodeSeconds: number[] = [];
  for (let i = 0; i < decodeSteps; i++) {
    let next = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[next]!) next = v;
    const t = performance.now();
    logits = model.backend.read(model.forward(batchOf(model, Int32Array.from([next]), promptTokens.length + i, blockTable, kv), kv));
    decodeSeconds.push((performance.now() - t) / 1e3);
  }
  const decodeCpuSeconds = decodeSteps > 0 ? cpuSeconds(cpu1) / decodeSteps : 0;
  kv.dispose();
  return { prefillSeconds, prefillCpuSeconds, decodeSeconds, decodeCpuSeconds, logits: first };
}

/** seconds per kernel op, summed over the calls since the last clear (--profile) */
const opSeconds = new Map<string, number>();
const profiled = (backend: NativeBackend): NativeBackend => profiledBackend(backend, opSeconds);
function printProfile(label: string): void {
  if (opSeconds.size === 0) return;
  const total = [...opSeconds.values()].reduce((a, b) => a + b, 0);
  console.log(`${label}: kernel time ${(total * 1e3).toFixed(0)} ms`);
  for (const [op, sec] of [...opSeconds].sort((a, b) => b[1] - a[1])) console.log(`  ${op.padEnd(24)} ${(sec * 1e3).toFixed(1).padStart(8)} ms  ${((100 * sec) / total).toFixed(1).padStart(5)}%`);
}

const cpuSeconds = (since: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1e6;
};
const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`${shape.name} ${weightType}: dim ${shape.dim}, ${numLayers} layers, ffn ${shape.ffnDim}, vocab ${shape.vocabSize}; prefill ${numPrefill} tokens, decode ${numDecode}`);

const checkPrompt = prompt.subarray(0, 5);
let nativeLogits: Float32Array | undefined;
for (const [threads, packWeights] of threadCounts.flatMap((t) => [[t, false], [t, true]] as const)) {
  const probe = probeNativeBackend({ threads, packWeights });
  if (!probe.ok) throw new Error(probe.reason);
  const backend = probe.backend;
  const model = new LlamaModel(config, file, args.has('profile') ? profiled(backend) : backend);
  run(model, 2); // warm up: scratch buffers, packed weights
  opSeconds.clear();
  const r = run(model, numDecode);
  printProfile(`${backend.name} threads=${threads}`);
  nativeLogits = run(model, 0, checkPrompt).logits;
  const decode = median(r.decodeSeconds);
  console.log(
    `${backend.name} threads=${threads}: prefill ${(numPrefill / r.prefillSeconds).toFixed(1)} tok/s (${(r.prefillSeconds * 1e3).toFixed(0)} ms, CPU ${(r.prefillCpuSeconds * 1e3).toFixed(0)} ms), ` +
      `decode ${(1 / decode).toFixed(1)} tok/s (median ${(decode * 1e3).toFixed(1)} ms, CPU ${(r.decodeCpuSeconds * 1e3).toFixed(1)} ms)`,
  );
  backend.dispose();
}

// logits after a 5-token prompt: native vs reference (the reference is slow TypeScript)
if (nativeLogits && !args.has('skip-reference')) {
  const ref = run(new LlamaModel(config, file, new ReferenceBackend()), 0, checkPrompt).logits;
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < ref.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(ref[i]! - nativeLogits[i]!));
    maxAbs = Math.max(maxAbs, Math.abs(ref[i]!));
  }
  const argmax = (a: Float32Array): number => a.reduce((best, v, i) => (v > a[best]! ? i : best), 0);
  console.log(`logits vs reference: max |diff| ${maxDiff.toExponential(2)} (max |logit| ${maxAbs.toFixed(2)}), argmax ${argmax(nativeLogits)} vs ${argmax(ref)}`);
}

if (args.has('llama-cpp')) {
  const { openLlamaCpp } = await import('../test/reference/llama-cpp.js');
  for (const threads of threadCounts) {
    const ref = await openLlamaCpp(path, { threads, contextSize: 512 });
    const tokens = Array.from(prompt);
    await ref.greedy(tokens, 2); // warm up
    let t = performance.now();
    let cpu0 = process.cpuUsage();
    await ref.greedy(tokens, 1);
    const prefill = (performance.now() - t) / 1e3;
    const prefillCpu = cpuSeconds(cpu0);
    t = performance.now();
    cpu0 = process.cpuUsage();
    await ref.greedy(tokens, 1 + numDecode);
    const decode = ((performance.now() - t) / 1e3 - prefill) / numDecode;
    const decodeCpu = (cpuSeconds(cpu0) - prefillCpu) / numDecode;
    console.log(
      `llama.cpp threads=${threads}: prefill ${(numPrefill / prefill).toFixed(1)} tok/s (${(prefill * 1e3).toFixed(0)} ms incl. 1 decode, CPU ${(prefillCpu * 1e3).toFixed(0)} ms), ` +
        `decode ${(1 / decode).toFixed(1)} tok/s (${(decode * 1e3).toFixed(1)} ms, CPU ${(decodeCpu * 1e3).toFixed(1)} ms)`,
    );
    await ref.dispose();
  }
}
