/**
 * `npm run bench`: Peregrine against llama.cpp (node-llama-cpp 3.21.1) on the same synthetic
 * Llama-3.2-1B-shaped GGUF, in the same run, with the same thread count: decode tokens/s
 * (128 tokens after a short prompt), prefill tokens/s (512 tokens; for Q4_0 / Q8_0 / Q4_K also with matmul
 * precision bf16, as `peregrine serve` runs it), their ratios, and decode's
 * fraction of the memory-bandwidth roofline (weight bytes read per token / bandwidth). The bandwidth
 * is measured in the same run, before each model (NativeBackend.measureReadBandwidth: every cache
 * line of 512 MiB read on the same threads), unless --bandwidth-gbs gives one. Each tokens/s is the
 * median of --repeats rounds (default 5) that alternate the two engines (which one goes first
 * alternates too), each round loading the model afresh: on a shared, noisy machine one run of
 * each can be off by 10% either way. Each ratio is the median of the rounds' own ratios (the two
 * engines of a round ran back to back, on about the same machine).
 *
 * It also reports loading: the first type's model loaded by each engine alone in a child process
 * (bench/load-probe.ts; Peregrine's loadModel, llama.cpp's loadModel + createContext, one token
 * evaluated), its wall time and the process's peak RSS (VmHWM), medians of --repeats alternating
 * rounds, beside the file size and the KV cache; --no-load skips it.
 *
 * It also reports what a JSON-schema request's token mask costs as a share of a decode step, at
 * batch 1 and at --mask-streams (16) constrained streams, on the first type's model and vocabulary
 * (json-mask-cost.ts); --mask-only measures that alone (no llama.cpp rows), --no-mask skips it.
 *
 *   npm run bench -- [--types=Q4_0,Q8_0,F16,Q4_K] [--threads=2] [--decode=128] [--prefill=512]
 *                    [--repeats=5] [--bandwidth-gbs=N] [--shape=llama-3.2-1b] [--update-readme]
 *                    [--mask-streams=16] [--mask-steps=16] [--mask-only] [--no-mask] [--no-load]
 *
 * Models are written once by our GGUF writer (seeded weights) into ~/.cache/peregrine/models, shared with `peregrine bench`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { loadModel } from '../src/api/index.js';
import { readGguf } from '../src/formats/gguf/index.js';
import { readGgufConfig } from '../src/models/gguf-config.js';
import type { SyntheticWeightType } from '../src/testing/synthetic-model.js';
import { resolveBenchModel } from '../src/benchmark/run-benchmark.js';
import { probeNativeBackend } from '../src/kernels/native/native-backend.js';
import { benchCpu, describeCpu, updateReadmeBlock } from './readme-tables.js';
import { measureDecodeSteps, measureJsonMaskCost, type DecodeSteps, type MaskCost } from './json-mask-cost.js';
import { measurePeregrineSpeed, promptTokens, type SpeedMeasurement } from './peregrine-speed.js';
import type { ModelShapeName } from '../src/testing/model-shapes.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const KNOWN_FLAGS = ['types', 'threads', 'decode', 'prefill', 'repeats', 'bandwidth-gbs', 'shape', 'update-readme', 'mask-streams', 'mask-steps', 'mask-type', 'mask-only', 'no-mask', 'no-load'];
const unknownFlags = [...args.keys()].filter((k) => !KNOWN_FLAGS.includes(k));
if (unknownFlags.length > 0) throw new Error(`unknown flag ${unknownFlags.map((k) => `--${k}`).join(', ')}; known: ${KNOWN_FLAGS.map((k) => `--${k}`).join(' ')}`);
const types = (args.get('types') ?? 'Q4_0,Q8_0,F16,Q4_K').split(',') as SyntheticWeightType[];
const threads = Number(args.get('threads') ?? 2);
const numDecode = Number(args.get('decode') ?? 128);
const numPrefill = Number(args.get('prefill') ?? 512);
const repeats = Number(args.get('repeats') ?? 5);
if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a positive integer, got ${args.get('repeats')}`);
const givenBandwidthGbs = args.has('bandwidth-gbs') ? Number(args.get('bandwidth-gbs')) : undefined;
const shapeName = (args.get('shape') ?? 'llama-3.2-1b') as ModelShapeName;
const numMaskStreams = Number(args.get('mask-streams') ?? 16);
const numMaskSteps = Number(args.get('mask-steps') ?? 16);
const isMaskOnly = args.has('mask-only');
const isMaskMeasured = !args.has('no-mask');
const isLoadMeasured = !args.has('no-load') && !isMaskOnly;
const root = resolve(import.meta.dirname, '..');
const contextSize = numPrefill + numDecode + 16;

type Measurement = SpeedMeasurement;

interface Row {
  readonly type: string;
  readonly fileMB: number;
  /** medians over the rounds */
  readonly peregrine: Measurement;
  readonly llamaCpp: Measurement;
  /** Peregrine's prefill with matmul precision bf16 (what `serve` runs), where it differs from exact */
  readonly bf16PrefillTokensPerSecond: number | undefined;
  /**
   * Peregrine ÷ llama.cpp: the median of the rounds' ratios. A round runs both engines back to
   * back, so its ratio is a paired measurement; the ratio of the medians would pair one round's
   * Peregrine with another's llama.cpp while the machine drifts.
   */
  readonly ratios: { readonly decode: number; readonly prefill: number; readonly bf16Prefill: number | undefined };
  /** every round's numbers, in order */
  readonly rounds: { readonly peregrine: Measurement; readonly llamaCpp: Measurement; readonly bf16PrefillTokensPerSecond: number | undefined }[];
  /** memory read bandwidth (measured just before this row, or --bandwidth-gbs) and the decode rate it allows */
  readonly bandwidthGbs: number;
  readonly rooflineTokensPerSecond: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function medianMeasurement(ms: readonly Measurement[]): Measurement {
  return {
    decodeTokensPerSecond: median(ms.map((m) => m.decodeTokensPerSecond)),
    prefillTokensPerSecond: median(ms.map((m) => m.prefillTokensPerSecond)),
  };
}

function log(message: string): void {
  process.stderr.write(message + '\n');
}

/** Bytes a decode step must read: every weight matrix once, plus one embedding row. */
function decodeBytesPerToken(path: string): number {
  const file = readGguf(path);
  let bytes = 0;
  const hasOutput = file.tensors.some((t) => t.name === 'output.weight');
  for (const t of file.tensors) {
    if (t.name === 'token_embd.weight') bytes += hasOutput ? t.byteSize / t.shape[1]! : t.byteSize; // tied: it is the output head
    else bytes += t.byteSize;
  }
  return bytes;
}

/** Prefill tokens/s with matmul precision bf16, or undefined where it runs the exact kernels (no AMX or AVX-512-BF16, other weight types). */
async function measureBf16Prefill(path: string, prompt: readonly number[]): Promise<number | undefined> {
  const model = await loadModel(path, { contextSize, backend: 'native', threads, matmulPrecision: 'bf16' });
  try {
    if (!model.hasBf16Batches) return undefined;
    await model.complete(prompt.slice(0, 16), { temperature: 0, maxTokens: 2 });
    const t0 = performance.now();
    await model.complete(prompt, { temperature: 0, maxTokens: 1 });
    return numPrefill / ((performance.now() - t0) / 1000);
  } finally {
    model.dispose();
  }
}

function measurePeregrine(path: string, prompt: readonly number[]): Promise<Measurement> {
  return measurePeregrineSpeed(path, prompt, { threads, numDecode, contextSize });
}

async function measureLlamaCpp(path: string, promptIds: readonly number[]): Promise<Measurement> {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: 0, progressLogs: false, skipDownload: true });
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  try {
    const prompt = [...promptIds] as Token[];
    const context = await model.createContext({ contextSize, batchSize: numPrefill, sequences: 1, threads, flashAttention: 'auto' });
    const sequence = context.getSequence();
    // warm-up
    await sequence.evaluateWithoutGeneratingNewTokens(prompt.slice(0, 8));
    await sequence.clearHistory();

    let t0 = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt);
    const prefillSeconds = (performance.now() - t0) / 1000;
    await sequence.clearHistory();

    let first = 0;
    let count = 0;
    t0 = performance.now();
    for await (const _token of sequence.evaluate(prompt.slice(0, 8), { temperature: 0, yieldEogToken: true })) {
      if (count === 0) first = performance.now();
      if (++count > numDecode) break;
    }
    const decodeSeconds = (performance.now() - first) / 1000;
    await context.dispose();
    return { prefillTokensPerSecond: numPrefill / prefillSeconds, decodeTokensPerSecond: (count - 1) / decodeSeconds };
  } finally {
    await model.dispose();
    await llama.dispose();
  }
}

/** GB/s the native kernels read from memory on `threads` threads (the best of 4 passes over 512 MiB) */
function measureBandwidth(): number {
  const probe = probeNativeBackend({ threads });
  if (!probe.ok) throw new Error(`the native backend is needed to measure the bandwidth (${probe.reason}); pass --bandwidth-gbs`);
  try {
    return probe.backend.measureReadBandwidth();
  } finally {
    probe.backend.dispose();
  }
}

function formatTable(rows: readonly Row[]): string {
  const f = (x: number): string => x.toFixed(1);
  const lines = [
    `| weights | file | decode tok/s (Peregrine / llama.cpp) | ratio | roofline | prefill tok/s (Peregrine / llama.cpp) | ratio | prefill, bf16 matmuls | ratio |`,
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) =>
      [
        r.type,
        `${r.fileMB.toFixed(0)} MB`,
        `${f(r.peregrine.decodeTokensPerSecond)} / ${f(r.llamaCpp.decodeTokensPerSecond)}`,
        `${r.ratios.decode.toFixed(2)}x`,
        `${((100 * r.peregrine.decodeTokensPerSecond) / r.rooflineTokensPerSecond).toFixed(0)}% of ${r.bandwidthGbs.toFixed(1)} GB/s`,
        `${f(r.peregrine.prefillTokensPerSecond)} / ${f(r.llamaCpp.prefillTokensPerSecond)}`,
        `${r.ratios.prefill.toFixed(2)}x`,
        r.bf16PrefillTokensPerSecond === undefined ? '—' : f(r.bf16PrefillTokensPerSecond),
        r.ratios.bf16Prefill === undefined ? '—' : `${r.ratios.bf16Prefill.toFixed(2)}x`,
      ].join(' | ').replace(/^/, '| ').replace(/$/, ' |'),
    ),
  ];
  return lines.join('\n');
}

interface MaskRow {
  readonly type: string;
  readonly vocabSize: number;
  readonly steps: DecodeSteps;
  readonly mask: MaskCost;
  /** the machine's 1-minute load average when the measurement began (a shared machine slows both sides) */
  readonly loadAverage: number;
}

async function measureMask(type: SyntheticWeightType): Promise<MaskRow> {
  const path = resolveBenchModel(shapeName, type, log);
  log(`${type}: JSON-schema mask cost and decode steps at batch 1 and ${numMaskStreams} streams ...`);
  const loadAverage = loadavg()[0]!;
  const model = await loadModel(path, { contextSize: 256, backend: 'native', threads });
  try {
    const mask = measureJsonMaskCost(model.tokenizer);
    const steps = await measureDecodeSteps(model, numMaskStreams, numMaskSteps);
    return { type, vocabSize: model.tokenizer.vocabSize, steps, mask, loadAverage };
  } finally {
    model.dispose();
  }
}

function formatMaskTable(r: MaskRow): string {
  const share = (maskMs: number, n: number, stepMs: number): string => `${((100 * n * maskMs) / stepMs).toFixed(1)}%`;
  const n = r.steps.numStreams;
  const line = (label: string, maskMs: number): string =>
    `| ${label} | ${maskMs.toFixed(3)} | ${share(maskMs, 1, r.steps.batch1Ms)} of ${r.steps.batch1Ms.toFixed(1)} ms | ${share(maskMs, n, r.steps.batchMs)} of ${r.steps.batchMs.toFixed(1)} ms |`;
  return [
    `| JSON-schema mask, ${r.vocabSize}-token vocabulary (${r.type} model) | ms per token | share of a decode step, batch 1 | ${n} constrained streams (${n} masks per step) |`,
    '|---|---|---|---|',
    line('first request for the schema', r.mask.coldMsPerToken),
    line('later requests (schema cached)', r.mask.warmMsPerToken),
  ].join('\n');
}

/** one engine's load, alone in a child process (bench/load-probe.ts) */
interface LoadMeasurement {
  readonly loadMs: number;
  readonly peakRssBytes: number;
  /** RSS before the load: the runtime and the imports */
  readonly baselineRssBytes: number;
}

interface LoadRow {
  readonly type: string;
  readonly fileBytes: number;
  /** f16 K and V for the context the probes create */
  readonly kvBytes: number;
  /** medians over the rounds */
  readonly peregrine: LoadMeasurement;
  readonly llamaCpp: LoadMeasurement;
  /** Peregrine ÷ llama.cpp, medians of the rounds' ratios */
  readonly ratios: { readonly loadMs: number; readonly peakRss: number };
  readonly rounds: { readonly peregrine: LoadMeasurement; readonly llamaCpp: LoadMeasurement }[];
}

function probeLoad(engine: 'peregrine' | 'llama.cpp', path: string): LoadMeasurement {
  const result = spawnSync(
    join(root, 'node_modules/.bin/vite-node'),
    ['bench/load-probe.ts', '--', `--engine=${engine}`, `--model=${path}`, `--threads=${threads}`, `--context=${contextSize}`],
    { cwd: root, env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, encoding: 'utf8' },
  );
  const last = result.stdout.trim().split('\n').pop() ?? '';
  if (result.status !== 0 || !last.startsWith('{')) throw new Error(`${engine} load probe failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`}): ${result.stderr.slice(-2000)}`);
  return JSON.parse(last) as LoadMeasurement;
}

function measureLoad(type: SyntheticWeightType): LoadRow {
  const path = resolveBenchModel(shapeName, type, log);
  const file = readGguf(path);
  const c = readGgufConfig(file, file.metadata.get('general.architecture')!.value as string, 'norm');
  const kvBytes = contextSize * c.numLayers * 2 * c.numKvHeads * c.headDim * 2;
  const rounds: LoadRow['rounds'] = [];
  for (let round = 1; round <= repeats; round++) {
    log(`${type} load (round ${round}/${repeats}) ...`);
    const isLlamaCppFirst = round % 2 === 0;
    const early = isLlamaCppFirst ? probeLoad('llama.cpp', path) : undefined;
    const peregrine = probeLoad('peregrine', path);
    rounds.push({ peregrine, llamaCpp: early ?? probeLoad('llama.cpp', path) });
  }
  const medianLoad = (ms: readonly LoadMeasurement[]): LoadMeasurement => ({
    loadMs: median(ms.map((m) => m.loadMs)),
    peakRssBytes: median(ms.map((m) => m.peakRssBytes)),
    baselineRssBytes: median(ms.map((m) => m.baselineRssBytes)),
  });
  return {
    type,
    fileBytes: file.fileSize,
    kvBytes,
    peregrine: medianLoad(rounds.map((r) => r.peregrine)),
    llamaCpp: medianLoad(rounds.map((r) => r.llamaCpp)),
    ratios: {
      loadMs: median(rounds.map((r) => r.peregrine.loadMs / r.llamaCpp.loadMs)),
      peakRss: median(rounds.map((r) => r.peregrine.peakRssBytes / r.llamaCpp.peakRssBytes)),
    },
    rounds,
  };
}

function formatLoadTable(r: LoadRow): string {
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(0)}`;
  const above = (m: LoadMeasurement): string => mb(m.peakRssBytes - m.baselineRssBytes);
  return [
    `| model load (${r.type}, ${mb(r.fileBytes)} MB file, ${mb(r.kvBytes)} MB KV cache) | load s (Peregrine / llama.cpp) | ratio | peak RSS MB (Peregrine / llama.cpp) | ratio | peak RSS above the process's RSS before the load, MB |`,
    '|---|---|---|---|---|---|',
    `| each engine alone in a child process | ${(r.peregrine.loadMs / 1000).toFixed(2)} / ${(r.llamaCpp.loadMs / 1000).toFixed(2)} | ${r.ratios.loadMs.toFixed(2)}x | ${mb(r.peregrine.peakRssBytes)} / ${mb(r.llamaCpp.peakRssBytes)} | ${r.ratios.peakRss.toFixed(2)}x | ${above(r.peregrine)} / ${above(r.llamaCpp)} |`,
  ].join('\n');
}

const cpu = benchCpu();
const rows: Row[] = [];
for (const type of isMaskOnly ? [] : types) {
  const path = resolveBenchModel(shapeName, type, log);
  const bytes = decodeBytesPerToken(path);
  const file = readGguf(path);
  const vocabSize = file.tensors.find((t) => t.name === 'token_embd.weight')!.shape[1]!;
  const prompt = promptTokens(numPrefill, vocabSize);
  const bandwidthGbs = givenBandwidthGbs ?? measureBandwidth();
  const rounds: Row['rounds'] = [];
  for (let round = 1; round <= repeats; round++) {
    // the engines take turns going first, so that neither always runs on the machine the other left
    const isLlamaCppFirst = round % 2 === 0;
    log(`${type} (round ${round}/${repeats}): memory read bandwidth ${bandwidthGbs.toFixed(1)} GB/s`);
    const runLlamaCpp = async (): Promise<Measurement> => {
      log(`${type} (round ${round}/${repeats}): llama.cpp ...`);
      return measureLlamaCpp(path, prompt);
    };
    const earlyLlamaCpp = isLlamaCppFirst ? await runLlamaCpp() : undefined;
    log(`${type} (round ${round}/${repeats}): Peregrine ...`);
    const peregrine = await measurePeregrine(path, prompt);
    // (matmul precision bf16 changes nothing without bf16 batches: AMX or AVX-512-BF16)
    const hasBf16Prefill = (cpu.isa === 'amx' || cpu.isa === 'avx512-bf16') && (type === 'Q4_0' || type === 'Q8_0' || type === 'Q4_K');
    const bf16PrefillTokensPerSecond = hasBf16Prefill ? await measureBf16Prefill(path, prompt) : undefined;
    const llamaCpp = earlyLlamaCpp ?? (await runLlamaCpp());
    rounds.push({ peregrine, llamaCpp, bf16PrefillTokensPerSecond });
  }
  const bf16 = rounds.map((r) => r.bf16PrefillTokensPerSecond).filter((v): v is number => v !== undefined);
  const bf16Ratios = rounds.flatMap((r) => (r.bf16PrefillTokensPerSecond === undefined ? [] : [r.bf16PrefillTokensPerSecond / r.llamaCpp.prefillTokensPerSecond]));
  const row: Row = {
    type,
    fileMB: file.fileSize / 1e6,
    peregrine: medianMeasurement(rounds.map((r) => r.peregrine)),
    llamaCpp: medianMeasurement(rounds.map((r) => r.llamaCpp)),
    bf16PrefillTokensPerSecond: bf16.length > 0 ? median(bf16) : undefined,
    ratios: {
      decode: median(rounds.map((r) => r.peregrine.decodeTokensPerSecond / r.llamaCpp.decodeTokensPerSecond)),
      prefill: median(rounds.map((r) => r.peregrine.prefillTokensPerSecond / r.llamaCpp.prefillTokensPerSecond)),
      bf16Prefill: bf16Ratios.length > 0 ? median(bf16Ratios) : undefined,
    },
    rounds,
    bandwidthGbs,
    rooflineTokensPerSecond: (bandwidthGbs * 1e9) / bytes,
  };
  rows.push(row);
  log(formatTable([row]).split('\n')[2]!);
}

const loadRow = isLoadMeasured ? measureLoad(types[0]!) : undefined;
const loadTable = loadRow && formatLoadTable(loadRow);
const maskRow = isMaskMeasured ? await measureMask((args.get('mask-type') ?? types[0]!) as SyntheticWeightType) : undefined;
const maskTable = maskRow && formatMaskTable(maskRow);
const maskHeader = `${describeCpu(cpu)}: ${shapeName} shape, ${threads} threads, one run (mask: mean over a schema's document, fillAllowedMask + applyTokenMask; steps: ${numMaskSteps} unconstrained decode steps${maskRow ? `; load average ${maskRow.loadAverage.toFixed(1)} at the start` : ''})`;
if (maskTable) console.log(`${maskHeader}\n\n${maskTable}\n`);
const table = formatTable(rows);
const bandwidthNote = givenBandwidthGbs === undefined ? 'roofline at the read bandwidth measured before each model' : `roofline at ${givenBandwidthGbs} GB/s`;
const header = `${describeCpu(cpu)}: ${shapeName} shape, ${threads} threads, decode ${numDecode} tokens, prefill ${numPrefill} tokens, tok/s: medians of ${repeats} alternating round${repeats === 1 ? '' : 's'}, ratios: medians of the rounds' ratios (each round runs both engines back to back), ${bandwidthNote}`;
mkdirSync(join(root, 'bench/results'), { recursive: true });
const today = new Date().toISOString().slice(0, 10);
if (maskRow) {
  writeFileSync(join(root, `bench/results/json-mask-${cpu.kind}.json`), JSON.stringify({ date: new Date().toISOString(), cpu, shape: shapeName, threads, ...maskRow }, null, 2) + '\n');
  if (args.has('update-readme')) updateReadmeBlock(join(root, 'README.md'), 'mask', cpu.kind, `${maskHeader} (\`npm run bench -- --update-readme\`, ${today}):\n\n${maskTable}`);
}
if (!isMaskOnly) {
  const tables = loadTable ? `${table}\n\n${loadTable}` : table;
  console.log(`${header}\n\n${tables}`);
  writeFileSync(
    join(root, `bench/results/decode-prefill-${cpu.kind}.json`),
    JSON.stringify({ date: new Date().toISOString(), cpu, shape: shapeName, threads, numDecode, numPrefill, repeats, rows, load: loadRow }, null, 2) + '\n',
  );
  if (args.has('update-readme')) {
    updateReadmeBlock(join(root, 'README.md'), 'bench', cpu.kind, `${header} (\`npm run bench -- --update-readme\`, ${today}):\n\n${tables}`);
  }
}
