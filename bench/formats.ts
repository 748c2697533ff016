/**
 * `npm run bench:formats`: every quantization format side by side, accuracy and speed.
 *
 * Accuracy (bench/format-accuracy.ts), on the bundled stories260K: its F32 file quantized to each
 * format by Peregrine's quantizer (and, for the 4-bit types calibration handles, calibrated on
 * text the model sampled at run time: `peregrine plan`'s default gate text, three 512-token streams
 * from BOS at temperature 1, seeds 0-2), each scored as `peregrine eval` scores it against the F32
 * file on a text the model wrote (test/eval/stories260k-sampled.txt: temperature 0.8, seed 7, so
 * not the calibration text), and checked against its default gate, the gate's anchor scored in the
 * same pass.
 *
 * Size and speed (bench/format-model-files.ts, bench/peregrine-speed.ts), on the synthetic
 * Llama-3.2-1B shape: bits per weight and tensor bytes of the format's types as `peregrine
 * quantize` would choose them, and decode / prefill tokens/s (Peregrine, native backend) on a seeded
 * file in those types; each figure the median of --repeats rounds that alternate the formats. A
 * calibrated variant has its format's types, so its size and speed are its format's.
 *
 *   npm run bench:formats -- [--formats=Q8_0,FP8_E4M3,...] [--no-speed] [--update-readme] [--shape=llama-3.2-1b]
 *                            [--threads=2] [--decode=32] [--prefill=128] [--repeats=1]
 *
 * The synthetic files are written once into ~/.cache/peregrine/models (minutes each for the 1B
 * shape), shared with `npm run bench`. A missed gate is printed in the table, and the exit status is
 * 3 (as `peregrine eval --gate`).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { GATE_MISSED_EXIT_STATUS } from '../src/cli/commands/eval.js';
import { ggmlTypeName, ggmlTypeTraits } from '../src/formats/ggml-type.js';
import { readGguf } from '../src/formats/gguf/index.js';
import { DEFAULT_GATE_WINDOW_TOKENS } from '../src/planner/format-gate.js';
import { sampleReferenceText } from '../src/planner/reference-sample-text.js';
import { quantFormats } from '../src/quant/quant-format.js';
import type { ModelShapeName } from '../src/testing/model-shapes.js';
import { formatVariants, measureFormatAccuracy } from './format-accuracy.js';
import { plannedSize, resolveFormatModel } from './format-model-files.js';
import { formatFormatsTable, type FormatRow } from './format-table.js';
import { measurePeregrineSpeed, promptTokens, type SpeedMeasurement } from './peregrine-speed.js';
import { benchCpu, describeCpu, updateReadmeBlock } from './readme-tables.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const KNOWN_FLAGS = ['formats', 'no-speed', 'update-readme', 'shape', 'threads', 'decode', 'prefill', 'repeats'];
const unknownFlags = [...args.keys()].filter((k) => !KNOWN_FLAGS.includes(k));
if (unknownFlags.length > 0) throw new Error(`unknown flag ${unknownFlags.map((k) => `--${k}`).join(', ')}; known: ${KNOWN_FLAGS.map((k) => `--${k}`).join(' ')}`);
const shapeName = (args.get('shape') ?? 'llama-3.2-1b') as ModelShapeName;
const threads = Number(args.get('threads') ?? 2);
const numDecode = Number(args.get('decode') ?? 32);
const numPrefill = Number(args.get('prefill') ?? 128);
const repeats = Number(args.get('repeats') ?? 1);
if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a positive integer, got ${args.get('repeats')}`);
const isSpeedMeasured = !args.has('no-speed');
/** every quantized format named after its type (the k-quant mixes' other names left out), in order of bits per weight */
const defaultFormats = quantFormats()
  .filter((f) => ggmlTypeTraits(f.defaultType)!.isQuantized && f.name === ggmlTypeName(f.defaultType))
  .map((f) => f.name);
const formats = (args.get('formats')?.split(',') ?? defaultFormats)
  .map((format) => ({ format, size: plannedSize(shapeName, format) }))
  .sort((a, b) => b.size.bitsPerWeight - a.size.bitsPerWeight);

const root = resolve(import.meta.dirname, '..');
const referencePath = join(root, 'models/stories260K/stories260K.gguf');
const evalTextPath = 'test/eval/stories260k-sampled.txt';
const log = (line: string): void => void process.stderr.write(line + '\n');
const cpu = benchCpu();
const loadAverage = loadavg()[0]!;

const variants = formatVariants(formats.map((f) => f.format));
log('sampling the calibration text from stories260K ...');
const calibrationText = await sampleReferenceText(referencePath, DEFAULT_GATE_WINDOW_TOKENS, {});
const accuracy = await measureFormatAccuracy(variants, { referencePath, evalText: readFileSync(join(root, evalTextPath), 'utf8'), calibrationText, log });

const speeds = new Map<string, SpeedMeasurement>();
if (isSpeedMeasured) {
  const contextSize = numPrefill + numDecode + 16;
  const rounds = new Map<string, SpeedMeasurement[]>(formats.map((f) => [f.format, []]));
  for (let round = 1; round <= repeats; round++) {
    for (const { format } of formats) {
      const path = resolveFormatModel(shapeName, format, log); // written when first needed, so a long first round measures as it goes
      log(`${format} (round ${round}/${repeats}): decode ${numDecode}, prefill ${numPrefill} tokens on ${shapeName} ...`);
      const prompt = promptTokens(numPrefill, vocabSizeOf(path));
      const m = await measurePeregrineSpeed(path, prompt, { threads, numDecode, contextSize });
      log(`${format} (round ${round}/${repeats}): decode ${m.decodeTokensPerSecond.toFixed(2)} tok/s, prefill ${m.prefillTokensPerSecond.toFixed(2)} tok/s (load average ${loadavg()[0]!.toFixed(1)})`);
      rounds.get(format)!.push(m);
    }
  }
  for (const [format, ms] of rounds) {
    speeds.set(format, { decodeTokensPerSecond: median(ms.map((m) => m.decodeTokensPerSecond)), prefillTokensPerSecond: median(ms.map((m) => m.prefillTokensPerSecond)) });
  }
}

const rows: FormatRow[] = accuracy.rows.map((a) => ({
  accuracy: a,
  size: formats.find((f) => f.format === a.variant.format)!.size,
  speed: speeds.get(a.variant.format),
}));
const table = formatFormatsTable(rows, shapeName, 'stories260K');
const scored = accuracy.rows[0]!.statistics.numTokens;
const speedNote = isSpeedMeasured
  ? `${shapeName} tok/s: Peregrine, ${threads} threads, decode ${numDecode} tokens, prefill ${numPrefill} tokens, ${repeats === 1 ? 'one round' : `medians of ${repeats} rounds alternating the formats`}`
  : `${shapeName} tok/s not measured (--no-speed)`;
const header =
  `${describeCpu(cpu)}: stories260K's F32 file quantized to each format by \`peregrine quantize\` (calibrated: on three texts the model sampled, seeds 0-2), ` +
  `scored as \`peregrine eval\` does against it on \`${evalTextPath}\` (${accuracy.numTextTokens} tokens, ${accuracy.numWindows} windows of ${accuracy.contextSize}, ${scored} scored); ` +
  `${shapeName}: bits per weight and tensor data (MB) of the types \`peregrine quantize\` chooses for that shape; ${speedNote}; load average ${loadAverage.toFixed(1)} at the start`;
console.log(`${header}\n\n${table}`);

mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(
  join(root, `bench/results/formats-${cpu.kind}.json`),
  JSON.stringify({ date: new Date().toISOString(), cpu, loadAverage, shape: shapeName, threads, numDecode, numPrefill, repeats, evalText: evalTextPath, ...accuracy, rows }, null, 2) + '\n',
);
if (args.has('update-readme')) {
  const today = new Date().toISOString().slice(0, 10);
  updateReadmeBlock(join(root, 'README.md'), 'formats', cpu.kind, `${header} (\`npm run bench:formats -- --update-readme${isSpeedMeasured ? '' : ' --no-speed'}\`, ${today}):\n\n${table}`);
}
if (accuracy.rows.some((r) => r.gate && !r.gate.outcome.isPassed)) process.exitCode = GATE_MISSED_EXIT_STATUS;

function vocabSizeOf(path: string): number {
  return readGguf(path).tensors.find((t) => t.name === 'token_embd.weight')!.shape[1]!;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
