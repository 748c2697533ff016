/**
 * Benchmark output: Markdown tables (per engine, one comparing Peregrine with its peer, and each
 * engine's configuration per scenario), the JSON result document, and `appendHistory`, which adds
 * a dated section (commit, headline figures) to a BENCHMARKS.md-style log, creating it when missing.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BENCH_SCENARIOS, type BenchScenario, type EngineConfig } from './bench-target.js';
import type { RateSearchResult } from './rate-search.js';
import type { ScenarioResult } from './scenario.js';

export const REPORT_SCHEMA_VERSION = 1;

/** the JSON document a `peregrine bench` run writes (NaN statistics serialize as null) */
export interface BenchmarkReport {
  readonly schemaVersion: typeof REPORT_SCHEMA_VERSION;
  /** ISO 8601 */
  readonly createdAt: string;
  readonly commit: string;
  /** e.g. "peregrine" or "node-llama-cpp 3.21.1" */
  readonly engine: string;
  readonly model: string;
  /** free-form run settings: threads, workload distributions, seeds */
  readonly settings: Readonly<Record<string, unknown>>;
  readonly results: readonly ScenarioResult[];
  readonly rateSearch?: RateSearchResult;
  /** the configuration the engine ran each scenario in (sequences, context, matmul precision, threads) */
  readonly configurations?: Readonly<Partial<Record<BenchScenario, EngineConfig>>>;
}

export interface ReportInput {
  readonly date: Date;
  readonly commit: string;
  readonly engine: string;
  readonly model: string;
  readonly settings?: Readonly<Record<string, unknown>>;
  readonly results: readonly ScenarioResult[];
  readonly rateSearch?: RateSearchResult;
  readonly configurations?: Readonly<Partial<Record<BenchScenario, EngineConfig>>>;
  /** keep each request's measurements (default false: summaries only) */
  readonly hasRequests?: boolean;
}

export function createReport(input: ReportInput): BenchmarkReport {
  const results = input.hasRequests ? input.results : input.results.map((r) => ({ ...r, requests: [] }));
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    createdAt: input.date.toISOString(),
    commit: input.commit,
    engine: input.engine,
    model: input.model,
    settings: input.settings ?? {},
    results,
    ...(input.rateSearch ? { rateSearch: input.rateSearch } : {}),
    ...(input.configurations ? { configurations: input.configurations } : {}),
  };
}

/** an engine's name and the configuration it ran each scenario in */
export interface EngineConfigs {
  readonly name: string;
  readonly configs: Readonly<Partial<Record<BenchScenario, EngineConfig>>>;
}

const SCENARIO_TITLES: Readonly<Record<BenchScenario, string>> = { 'single-stream': 'SingleStream', offline: 'Offline', server: 'Server' };

/** one row per engine and scenario: sequences, context, KV cache, matmul precision, threads, the rest; then a note on what the columns mean */
export function toConfigurationTable(runs: readonly EngineConfigs[]): string {
  const header = ['Engine', 'Scenario', 'Sequences', 'Context per sequence', 'KV cache (tokens)', 'Matmul precision', 'Threads', 'Other settings'];
  const rows = runs.flatMap((run) =>
    BENCH_SCENARIOS.map((scenario) => {
      const c = run.configs[scenario];
      if (!c) return [run.name, SCENARIO_TITLES[scenario], '—', '—', '—', '—', '—', 'not run'];
      return [run.name, SCENARIO_TITLES[scenario], String(c.numSequences), String(c.contextSize), String(c.numKvTokens), c.matmulPrecision, String(c.threads), c.details];
    }),
  );
  const note =
    'Each engine runs each scenario in its own best configuration, as MLPerf submitters do: SingleStream (one request at a time) ' +
    'in a context with one sequence, Offline and Server with parallel sequences; every run (each Server trial too) opens a fresh one ' +
    'with an empty KV cache. Matmul precision exact: llama.cpp\'s arithmetic (activations quantized to 8 bits per block for Q8_0/Q4_0/Q4_K weights); ' +
    'bf16: Peregrine\'s bf16 kernels (AMX tiles, or vdpbf16ps on AVX-512-BF16) for batches of 12+ tokens (prefill, busy steps; one sequence\'s decode is exact either way).';
  return [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.map(escapeCell).join(' | ')} |`).join('\n') + `\n\n${note}\n`;
}

/** sequences per scenario for a history entry: "SingleStream 1, Offline 8, Server 8", per engine when they differ */
export function configurationSummary(runs: readonly EngineConfigs[]): string {
  const of = (run: EngineConfigs): string =>
    BENCH_SCENARIOS.map((s) => `${SCENARIO_TITLES[s]} ${run.configs[s]?.numSequences ?? '—'}`).join(', ');
  const summaries = runs.map(of);
  if (summaries.every((x) => x === summaries[0])) return `sequences per scenario, each engine's best: ${summaries[0] ?? '—'}`;
  return `sequences per scenario, each engine's best: ${runs.map((r, i) => `${shortName(r.name)} ${summaries[i]}`).join('; ')}`;
}

const TABLE_HEADER = [
  'Scenario',
  'Load',
  'Requests',
  'Output tok/s',
  'Req/s',
  'TTFT p50 ms',
  'TTFT p99 ms',
  'TPOT p50 ms',
  'TPOT p99 ms',
  'Valid',
];

/** one row per result; `engine` adds a first column when comparing engines */
export function toMarkdownTable(results: readonly ScenarioResult[], engine?: string): string {
  const header = engine === undefined ? TABLE_HEADER : ['Engine', ...TABLE_HEADER];
  const rows = results.map((r) => {
    const row = [
      r.scenario,
      loadLabel(r),
      r.numErrors > 0 || r.stoppedEarly ? `${r.numCompleted}/${r.numRequests}` : String(r.numRequests),
      num(r.outputTokensPerSecond, 1),
      num(r.requestsPerSecond, 2),
      num(r.ttftMs.p50, 1),
      num(r.ttftMs.p99, 1),
      num(r.tpotMs.p50, 1),
      num(r.tpotMs.p99, 1),
      r.isValid === undefined ? '' : r.isValid ? 'yes' : 'no',
    ];
    return engine === undefined ? row : [engine, ...row];
  });
  return [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.map(escapeCell).join(' | ')} |`).join('\n') + '\n';
}

/** one engine's run, as the comparison reads it */
export interface EngineRunFigures {
  readonly name: string;
  /** SingleStream, Offline and the best valid Server trial */
  readonly results: readonly ScenarioResult[];
  readonly rateSearch?: RateSearchResult;
}

export interface ComparisonRow {
  readonly metric: string;
  readonly ours: number;
  /** NaN when the peer was skipped or lacks the figure */
  readonly peer: number;
  /** above 1 means ours is better: ours ÷ peer for throughputs and rates, peer ÷ ours for latencies; NaN when either is missing */
  readonly ratio: number;
  readonly isHigherBetter: boolean;
  /** one of the few figures a history entry keeps */
  readonly isHeadline: boolean;
  readonly digits: number;
}

interface ComparedMetric {
  readonly metric: string;
  readonly isHigherBetter: boolean;
  readonly isHeadline?: boolean;
  readonly digits: number;
  readonly read: (run: EngineRunFigures) => number | undefined;
}

const scenarioOf = (run: EngineRunFigures, scenario: ScenarioResult['scenario']) => run.results.find((r) => r.scenario === scenario);
const totalTokensPerSecond = (r: ScenarioResult): number => (r.numInputTokens + r.numOutputTokens) / (r.durationMs / 1000);

const COMPARED_METRICS: readonly ComparedMetric[] = [
  { metric: 'SingleStream TTFT p50 (ms)', isHigherBetter: false, isHeadline: true, digits: 1, read: (run) => scenarioOf(run, 'single-stream')?.ttftMs.p50 },
  { metric: 'SingleStream TTFT p99 (ms)', isHigherBetter: false, digits: 1, read: (run) => scenarioOf(run, 'single-stream')?.ttftMs.p99 },
  { metric: 'SingleStream TPOT p50 (ms)', isHigherBetter: false, digits: 1, read: (run) => scenarioOf(run, 'single-stream')?.tpotMs.p50 },
  { metric: 'SingleStream TPOT p99 (ms)', isHigherBetter: false, digits: 1, read: (run) => scenarioOf(run, 'single-stream')?.tpotMs.p99 },
  { metric: 'SingleStream output tok/s', isHigherBetter: true, isHeadline: true, digits: 1, read: (run) => scenarioOf(run, 'single-stream')?.outputTokensPerSecond },
  { metric: 'Offline output tok/s', isHigherBetter: true, isHeadline: true, digits: 1, read: (run) => scenarioOf(run, 'offline')?.outputTokensPerSecond },
  { metric: 'Offline total tok/s (input + output)', isHigherBetter: true, digits: 1, read: (run) => mapDefined(scenarioOf(run, 'offline'), totalTokensPerSecond) },
  { metric: 'Server max rate meeting constraints (req/s)', isHigherBetter: true, isHeadline: true, digits: 2, read: (run) => run.rateSearch?.bestRatePerSecond ?? undefined },
  { metric: 'Server TTFT p99 at that rate (ms)', isHigherBetter: false, digits: 1, read: (run) => scenarioOf(run, 'server')?.ttftMs.p99 },
  { metric: 'Server TPOT p99 at that rate (ms)', isHigherBetter: false, digits: 1, read: (run) => scenarioOf(run, 'server')?.tpotMs.p99 },
];

/** every compared figure for ours beside the peer's (NaN when skipped) and the ratio, oriented so that above 1 is better for ours */
export function compareEngines(ours: EngineRunFigures, peer: EngineRunFigures | undefined): ComparisonRow[] {
  return COMPARED_METRICS.map((m) => {
    const oursValue = m.read(ours) ?? Number.NaN;
    const peerValue = (peer && m.read(peer)) ?? Number.NaN;
    const ratio = m.isHigherBetter ? oursValue / peerValue : peerValue / oursValue;
    return {
      metric: m.metric,
      ours: oursValue,
      peer: peerValue,
      ratio: Number.isFinite(ratio) && ratio > 0 ? ratio : Number.NaN,
      isHigherBetter: m.isHigherBetter,
      isHeadline: m.isHeadline ?? false,
      digits: m.digits,
    };
  });
}

/** `names`: column headers, e.g. "Peregrine (native)"; the part before " (" names the engines in the ratio header and note */
export function toComparisonTable(rows: readonly ComparisonRow[], names: { readonly ours: string; readonly peer: string }): string {
  const [ours, peer] = [shortName(names.ours), shortName(names.peer)];
  const header = ['Metric', names.ours, names.peer, `Ratio (×, > 1 = ${ours} better)`];
  const lines = [header, header.map(() => '---'), ...rows.map((r) => [r.metric, figure(r.ours, r.digits), figure(r.peer, r.digits), ratioLabel(r.ratio)])];
  const note =
    `Ratio: ${peer} ÷ ${ours} for latencies (ms), ${ours} ÷ ${peer} for throughputs and rates, so above 1 always means ${ours} is better. ` +
    `Server p99s are each engine's own, at its own highest passing rate. A — is a figure not measured (peer skipped, or no rate passed).`;
  return lines.map((cells) => `| ${cells.map(escapeCell).join(' | ')} |`).join('\n') + `\n\n${note}\n`;
}

/** the headline rows as history figures: "ours vs peer (ratio×)", or just ours when the peer was skipped */
export function comparisonFigures(rows: readonly ComparisonRow[], hasPeer: boolean): Record<string, string> {
  const figures: Record<string, string> = {};
  for (const r of rows.filter((x) => x.isHeadline)) {
    figures[r.metric] = hasPeer ? `${figure(r.ours, r.digits)} vs ${figure(r.peer, r.digits)} (${ratioLabel(r.ratio)})` : figure(r.ours, r.digits);
  }
  return figures;
}

function mapDefined<T, U>(value: T | undefined, f: (value: T) => U): U | undefined {
  return value === undefined ? undefined : f(value);
}

/** "Peregrine (native)" → "Peregrine" */
export function shortName(name: string): string {
  return name.split(' (')[0]!;
}

function figure(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '—';
}

function ratioLabel(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '—';
}

export interface HistoryEntry {
  readonly date: Date;
  readonly commit: string;
  /** e.g. "Llama-3.2-1B Q4_0, 2 threads" */
  readonly title: string;
  /** headline figures in display order, e.g. { 'Offline output tok/s': 412.3 } */
  readonly figures: Readonly<Record<string, string | number>>;
}

export const HISTORY_HEADER =
  '# Benchmarks\n\nOne section per run, newest last, appended by `appendHistory` (src/benchmark/report.ts).\n';

/** append one dated section; creates the file (and its folder) with a header when missing */
export async function appendHistory(path: string, entry: HistoryEntry): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  try {
    await writeFile(path, HISTORY_HEADER, { flag: 'wx' }); // only when it does not exist yet
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  await appendFile(path, formatHistoryEntry(entry));
}

export function formatHistoryEntry(entry: HistoryEntry): string {
  const day = entry.date.toISOString().slice(0, 10);
  const lines = [`\n## ${day} · ${entry.commit.slice(0, 12)} · ${oneLine(entry.title)}\n`];
  for (const [name, value] of Object.entries(entry.figures)) {
    lines.push(`- ${oneLine(name)}: ${typeof value === 'number' ? num(value, 2) : oneLine(value)}`);
  }
  return lines.join('\n') + '\n';
}

function loadLabel(r: ScenarioResult): string {
  if (r.scenario === 'server' && r.ratePerSecond !== undefined) return `${num(r.ratePerSecond, 3)} req/s`;
  if (r.scenario === 'concurrency' && r.maxConcurrency !== undefined) return `${r.maxConcurrency} in flight`;
  if (r.scenario === 'single-stream') return '1 in flight';
  return 'all at once';
}

function num(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function escapeCell(text: string): string {
  return oneLine(text).replaceAll('|', '\\|');
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
