/**
 * `npm run bench:parallel`: one worker against tensor and pipeline parallelism on the same cores,
 * on the synthetic Llama-3.2-1B-shaped Q4_0 GGUF (~/.cache/peregrine/models, shared with the other
 * benches): 1 worker x --threads threads, TP=2 and PP=2 x threads/2 each. For each layout:
 * - the minimum-latency case: one request alone: decode tok/s (1000 / its TPOT) and TTFT;
 * - the maximum-throughput case: --batch concurrent requests: all output tokens / wall time;
 * with ratios against 1 worker, then the planner's choice among these 6 configs (src/planner's
 * selectPlan) for a tight and a loose TPOT budget.
 *
 * Every figure is a median of --repeats rounds; each round runs every layout (its order rotating
 * between rounds), loading the model afresh, and each ratio is the median of the rounds' own
 * ratios (a round's layouts ran back to back, on about the same machine). Measured as
 * `peregrine plan` measures (ServingMeasurer: distinct prompts of --prompt tokens, --decode
 * output tokens each, temperature 0, EOS ignored).
 *
 *   npm run bench:parallel -- [--threads=2] [--prompt=64] [--decode=32] [--batch=16] [--repeats=3]
 *                             [--transport=shared-memory] [--tight-tpot-ms=N] [--loose-tpot-ms=N]
 *                             [--model=PATH] [--update-readme]
 *
 * Budgets default to 1.25x (tight) and 20x (loose) the smallest single-request TPOT measured.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { resolveBenchModel } from '../src/benchmark/run-benchmark.js';
import { TRANSPORT_KINDS, type TransportKind } from '../src/parallel/transport.js';
import type { Measurement } from '../src/planner/measurer.js';
import type { PlanConfig } from '../src/planner/plan-config.js';
import { describeBudget, describeConfig, type LatencyBudget, type PlanRow } from '../src/planner/plan-row.js';
import { selectPlan } from '../src/planner/select-plan.js';
import { ServingMeasurer } from '../src/planner/serving-measurer.js';
import { benchCpu, describeCpu, updateReadmeBlock } from './readme-tables.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const KNOWN_FLAGS = ['threads', 'prompt', 'decode', 'batch', 'repeats', 'transport', 'tight-tpot-ms', 'loose-tpot-ms', 'model', 'update-readme'];
const unknownFlags = [...args.keys()].filter((k) => !KNOWN_FLAGS.includes(k));
if (unknownFlags.length > 0) throw new Error(`unknown flag ${unknownFlags.map((k) => `--${k}`).join(', ')}; known: ${KNOWN_FLAGS.map((k) => `--${k}`).join(' ')}`);
const threads = positiveInteger('threads', 2);
if (threads % 2 !== 0) throw new Error(`--threads must be even: TP=2 and PP=2 split it between 2 workers (got ${threads})`);
const numPrompt = positiveInteger('prompt', 64);
const numDecode = positiveInteger('decode', 32);
const batch = positiveInteger('batch', 16);
const repeats = positiveInteger('repeats', 3);
const transport = (args.get('transport') ?? 'shared-memory') as TransportKind;
if (!TRANSPORT_KINDS.includes(transport)) throw new Error(`--transport must be one of ${TRANSPORT_KINDS.join(', ')}`);
const root = resolve(import.meta.dirname, '..');
const log = (line: string) => process.stderr.write(line + '\n');
const modelPath = resolveBenchModel(args.get('model') ?? 'llama-3.2-1b', 'Q4_0', log);

function positiveInteger(name: string, fallback: number): number {
  const n = Number(args.get(name) ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${args.get(name)}`);
  return n;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Layout {
  readonly name: string;
  readonly tensorParallel: number;
  readonly pipelineParallel: number;
  readonly threadsPerWorker: number;
}

const LAYOUTS: readonly Layout[] = [
  { name: '1 worker', tensorParallel: 1, pipelineParallel: 1, threadsPerWorker: threads },
  { name: 'TP=2', tensorParallel: 2, pipelineParallel: 1, threadsPerWorker: threads / 2 },
  { name: 'PP=2', tensorParallel: 1, pipelineParallel: 2, threadsPerWorker: threads / 2 },
];

/** one layout in one round: the single request and the batch */
interface Round {
  readonly single: Measurement;
  readonly batched: Measurement;
}

const format = basename(modelPath).replace(/\.gguf$/i, '');
const configOf = (layout: Layout, maxNumSeqs: number): PlanConfig => ({ modelPath, format, ...layout, maxNumSeqs, kvCacheType: 'f16' });

const measurer = new ServingMeasurer({ promptTokens: numPrompt, outputTokens: numDecode, parallelTransport: transport, log });
const rounds: Round[][] = LAYOUTS.map(() => []);
const loadAtStart = loadavg()[0]!;
try {
  for (let r = 0; r < repeats; r++) {
    for (let k = 0; k < LAYOUTS.length; k++) {
      const i = (k + r) % LAYOUTS.length;
      const layout = LAYOUTS[i]!;
      try {
        const single = await measurer.measure(configOf(layout, 1));
        const batched = await measurer.measure(configOf(layout, batch));
        rounds[i]!.push({ single, batched });
        log(`round ${r + 1}/${repeats} ${layout.name}: decode ${(1000 / single.tpotMs).toFixed(2)} tok/s, TTFT ${single.ttftMs.toFixed(0)} ms; batch ${batch}: ${batched.tokensPerSecond.toFixed(2)} tok/s`);
      } catch (e) {
        if (layout.tensorParallel * layout.pipelineParallel === 1) throw e;
        throw new Error(
          `loadModel or the run refused ${layout.name} (tensorParallel ${layout.tensorParallel}, pipelineParallel ${layout.pipelineParallel}, ` +
            `${layout.threadsPerWorker} thread(s) per worker, transport ${transport}): ${(e as Error).message}. ` +
            'npm run bench:parallel needs tensor and pipeline parallelism in loadModel (issue 20).',
          { cause: e },
        );
      }
    }
  }
} finally {
  await measurer.close();
}

interface Row {
  readonly layout: Layout;
  readonly single: Measurement;
  readonly batched: Measurement;
  /** medians of the rounds' ratios to 1 worker (undefined for 1 worker itself) */
  readonly ratios: { readonly decode: number; readonly ttft: number; readonly throughput: number } | undefined;
}

const medianOf = (ms: readonly Measurement[]): Measurement => ({
  ttftMs: median(ms.map((m) => m.ttftMs)),
  tpotMs: median(ms.map((m) => m.tpotMs)),
  tokensPerSecond: median(ms.map((m) => m.tokensPerSecond)),
});
const base = rounds[0]!;
const rows: Row[] = LAYOUTS.map((layout, i) => ({
  layout,
  single: medianOf(rounds[i]!.map((r) => r.single)),
  batched: medianOf(rounds[i]!.map((r) => r.batched)),
  ratios:
    i === 0
      ? undefined
      : {
          decode: median(rounds[i]!.map((r, k) => base[k]!.single.tpotMs / r.single.tpotMs)),
          ttft: median(rounds[i]!.map((r, k) => r.single.ttftMs / base[k]!.single.ttftMs)),
          throughput: median(rounds[i]!.map((r, k) => r.batched.tokensPerSecond / base[k]!.batched.tokensPerSecond)),
        },
}));

const ratio = (x: number | undefined) => (x === undefined ? '1' : x.toFixed(2));
const table = [
  `| layout | workers x threads | decode tok/s, 1 request | TTFT ms, 1 request | total tok/s, ${batch} requests | decode vs 1 worker | TTFT vs 1 worker | throughput vs 1 worker |`,
  '|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => {
    const workers = r.layout.tensorParallel * r.layout.pipelineParallel;
    return `| ${r.layout.name} | ${workers} x ${r.layout.threadsPerWorker} | ${(1000 / r.single.tpotMs).toFixed(2)} | ${r.single.ttftMs.toFixed(0)} | ${r.batched.tokensPerSecond.toFixed(2)} | ${ratio(r.ratios?.decode)} | ${ratio(r.ratios?.ttft)} | ${ratio(r.ratios?.throughput)} |`;
  }),
].join('\n');

// the planner on the same measurements: the 6 configs (3 layouts x batch 1 and --batch), two TPOT budgets
const planRows: PlanRow[] = rows.flatMap((r) => [
  { config: configOf(r.layout, 1), gate: undefined, measurement: r.single, failure: undefined },
  { config: configOf(r.layout, batch), gate: undefined, measurement: r.batched, failure: undefined },
]);
const fastestTpotMs = Math.min(...rows.map((r) => r.single.tpotMs));
const budgets: [string, LatencyBudget][] = [
  ['tight', { maxTpotMs: Number(args.get('tight-tpot-ms') ?? (1.25 * fastestTpotMs).toFixed(0)) }],
  ['loose', { maxTpotMs: Number(args.get('loose-tpot-ms') ?? (20 * fastestTpotMs).toFixed(0)) }],
];
const choices = budgets.map(([name, budget]) => {
  const choice = selectPlan(planRows, budget);
  const what =
    choice.kind === 'chosen'
      ? `${describeConfig(choice.row.config)}: ${choice.row.measurement!.tokensPerSecond.toFixed(2)} tok/s, TPOT ${choice.row.measurement!.tpotMs.toFixed(0)} ms`
      : choice.message;
  return `- ${name} budget (${describeBudget(budget)}): ${what}`;
});

const cpu = benchCpu();
const header =
  `${describeCpu(cpu)}: ${basename(modelPath)}, ${threads} cores, transport ${transport}; ${numPrompt}-token prompts, ${numDecode} output tokens per request; ` +
  `medians of ${repeats} round${repeats === 1 ? '' : 's'} (layouts alternated), ratios: medians of the rounds' ratios; load average ${loadAtStart.toFixed(1)} at the start`;
const body = `${header}\n\n${table}\n\nThe planner's choice among these ${planRows.length} configs:\n\n${choices.join('\n')}`;
console.log(body);
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(
  join(root, `bench/results/parallel-${cpu.kind}.json`),
  JSON.stringify({ date: new Date().toISOString(), cpu, modelPath, threads, transport, numPrompt, numDecode, batch, repeats, loadAtStart, rows, rounds, choices }, null, 2) + '\n',
);
if (args.has('update-readme')) {
  const today = new Date().toISOString().slice(0, 10);
  updateReadmeBlock(join(root, 'README.md'), 'parallel', cpu.kind, `${header} (\`npm run bench:parallel -- --update-readme\`, ${today}):\n\n${table}\n\n${choices.join('\n')}`);
}
