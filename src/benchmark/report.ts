/**
 * Benchmark output: a Markdown table, the JSON result document, and `appendHistory`, which adds a
 * dated section (commit, headline figures) to a BENCHMARKS.md-style log, creating it when missing.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
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
}

export interface ReportInput {
  readonly date: Date;
  readonly commit: string;
  readonly engine: string;
  readonly model: string;
  readonly settings?: Readonly<Record<string, unknown>>;
  readonly results: readonly ScenarioResult[];
  readonly rateSearch?: RateSearchResult;
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
  };
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
      r.numErrors > 0 ? `${r.numCompleted}/${r.numRequests}` : String(r.numRequests),
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
