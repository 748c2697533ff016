import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { FixedDelayEngine } from './fake-engine.js';
import type { RateSearchResult } from './rate-search.js';
import {
  appendHistory,
  compareEngines,
  comparisonFigures,
  configurationSummary,
  createReport,
  formatHistoryEntry,
  HISTORY_HEADER,
  toComparisonTable,
  toConfigurationTable,
  toMarkdownTable,
  type EngineConfigs,
  type EngineRunFigures,
} from './report.js';
import type { EngineConfig } from './bench-target.js';
import { runOffline, runServer, runSingleStream, type ScenarioResult } from './scenario.js';

async function results(): Promise<ScenarioResult[]> {
  const clock = new FakeClock();
  const engine = new FixedDelayEngine(clock, { prefillMs: 50, perTokenMs: 10 });
  const requests = Array.from({ length: 4 }, (_, requestId) => ({ requestId, promptIds: [300], maxTokens: 5 }));
  return [await runOffline(engine, requests, { clock }), await runServer(engine, requests, { clock, ratePerSecond: 2.5 })];
}

describe('toMarkdownTable', () => {
  it('writes a header, a separator and one row per result', async () => {
    const table = toMarkdownTable(await results());
    const lines = table.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\| Scenario \| Load \|/);
    expect(lines[2]).toBe('| offline | all at once | 4 | 222.2 | 44.44 | 50.0 | 50.0 | 10.0 | 10.0 |  |');
    expect(lines[3]).toMatch(/^\| server \| 2\.500 req\/s \| 4 \|.*\| yes \|$/);
  });

  it('adds an engine column and escapes pipes', async () => {
    const [offline] = await results();
    const table = toMarkdownTable([offline!], 'a|b');
    expect(table.split('\n')[0]).toMatch(/^\| Engine \| Scenario/);
    expect(table.split('\n')[2]).toMatch(/^\| a\\\|b \| offline/);
  });
});

describe('compareEngines and toComparisonTable', () => {
  /** every request: 4 prompt tokens, 5 output tokens; SingleStream 2 requests, Offline 4, Server 4 at the best rate (left out when none) */
  async function engineRun(name: string, timing: { prefillMs: number; perTokenMs: number }, bestRatePerSecond: number | null): Promise<EngineRunFigures> {
    const clock = new FakeClock();
    const engine = new FixedDelayEngine(clock, timing);
    const requests = (n: number) => Array.from({ length: n }, (_, requestId) => ({ requestId, promptIds: [1, 2, 3, 4], maxTokens: 5 }));
    const single = await runSingleStream(engine, requests(2), { clock });
    const offline = await runOffline(engine, requests(4), { clock });
    const server = await runServer(engine, requests(4), { clock, ratePerSecond: bestRatePerSecond ?? 1 });
    const rateSearch: RateSearchResult = { bestRatePerSecond, lowestInvalidRatePerSecond: null, isConverged: false, trials: [] };
    return { name, results: bestRatePerSecond === null ? [single, offline] : [single, offline, server], rateSearch };
  }
  // ours: first token after 50 ms, then 10 ms a token (90 ms a request); the peer starts faster (25 ms) but decodes at 20 ms (105 ms)
  const ours = () => engineRun('Peregrine (native)', { prefillMs: 50, perTokenMs: 10 }, 3);
  const peer = () => engineRun('llama.cpp (node-llama-cpp)', { prefillMs: 25, perTokenMs: 20 }, 1.5);

  it('puts each figure beside the peer\'s, with a ratio above 1 when ours is better', async () => {
    const rows = compareEngines(await ours(), await peer());
    const byMetric = Object.fromEntries(rows.map((r) => [r.metric, r]));
    expect(rows.map((r) => r.metric)).toEqual([
      'SingleStream TTFT p50 (ms)',
      'SingleStream TTFT p99 (ms)',
      'SingleStream TPOT p50 (ms)',
      'SingleStream TPOT p99 (ms)',
      'SingleStream output tok/s',
      'Offline output tok/s',
      'Offline total tok/s (input + output)',
      'Server max rate meeting constraints (req/s)',
      'Server TTFT p99 at that rate (ms)',
      'Server TPOT p99 at that rate (ms)',
    ]);
    // latencies: peer ÷ ours, so the peer's faster first token gives a ratio below 1
    expect(byMetric['SingleStream TTFT p50 (ms)']).toMatchObject({ ours: 50, peer: 25, ratio: 0.5, isHigherBetter: false });
    expect(byMetric['SingleStream TTFT p99 (ms)']!.ratio).toBe(0.5);
    expect(byMetric['SingleStream TPOT p50 (ms)']).toMatchObject({ ours: 10, peer: 20, ratio: 2 });
    expect(byMetric['Server TPOT p99 at that rate (ms)']!.ratio).toBeCloseTo(2, 9);
    // throughputs and rates: ours ÷ peer; 10 tokens in 180 ms against 10 tokens in 210 ms
    expect(byMetric['SingleStream output tok/s']!.ours).toBeCloseTo(10 / 0.18, 9);
    expect(byMetric['SingleStream output tok/s']!.ratio).toBeCloseTo(210 / 180, 9);
    expect(byMetric['Offline output tok/s']!.ratio).toBeCloseTo(105 / 90, 9); // all at once: 90 ms against 105 ms
    expect(byMetric['Offline total tok/s (input + output)']!.ours).toBeCloseTo((16 + 20) / 0.09, 9);
    expect(byMetric['Offline total tok/s (input + output)']!.ratio).toBeCloseTo(105 / 90, 9);
    expect(byMetric['Server max rate meeting constraints (req/s)']).toMatchObject({ ours: 3, peer: 1.5, ratio: 2, isHigherBetter: true });
  });

  it('renders one table with the ratio direction stated in the header and the note', async () => {
    const [o, p] = [await ours(), await peer()];
    const table = toComparisonTable(compareEngines(o, p), { ours: o.name, peer: p.name });
    const lines = table.split('\n');
    expect(lines[0]).toBe('| Metric | Peregrine (native) | llama.cpp (node-llama-cpp) | Ratio (×, > 1 = Peregrine better) |');
    expect(lines[1]).toBe('| --- | --- | --- | --- |');
    expect(lines[2]).toBe('| SingleStream TTFT p50 (ms) | 50.0 | 25.0 | 0.50× |');
    expect(lines[4]).toBe('| SingleStream TPOT p50 (ms) | 10.0 | 20.0 | 2.00× |');
    expect(lines[9]).toBe('| Server max rate meeting constraints (req/s) | 3.00 | 1.50 | 2.00× |');
    expect(lines).toHaveLength(15); // 2 + 10 rows, a blank line, the note, the final newline
    expect(lines[13]).toMatch(/^Ratio: llama\.cpp ÷ Peregrine for latencies \(ms\), Peregrine ÷ llama\.cpp for throughputs and rates, so above 1 always means Peregrine is better\./);
  });

  it('shows — for the peer and the ratio when the peer was skipped or no rate passed', async () => {
    const o = await ours();
    const skipped = compareEngines(o, undefined);
    expect(skipped.every((r) => Number.isNaN(r.peer) && Number.isNaN(r.ratio) && Number.isFinite(r.ours))).toBe(true);
    const table = toComparisonTable(skipped, { ours: o.name, peer: 'llama.cpp' });
    expect(table).toContain('| SingleStream TTFT p50 (ms) | 50.0 | — | — |');
    expect(table).toContain('| Server max rate meeting constraints (req/s) | 3.00 | — | — |');

    const failing = await engineRun('llama.cpp (node-llama-cpp)', { prefillMs: 25, perTokenMs: 20 }, null);
    const rows = compareEngines(o, failing);
    const text = toComparisonTable(rows, { ours: o.name, peer: failing.name });
    expect(text).toContain('| Server max rate meeting constraints (req/s) | 3.00 | — | — |');
    expect(text).toContain('| Server TTFT p99 at that rate (ms) | 50.0 | — | — |');
    expect(text).toContain('| SingleStream TPOT p50 (ms) | 10.0 | 20.0 | 2.00× |');
  });

  it('keeps the headline rows as history figures', async () => {
    const o = await ours();
    expect(comparisonFigures(compareEngines(o, await peer()), true)).toEqual({
      'SingleStream TTFT p50 (ms)': '50.0 vs 25.0 (0.50×)',
      'SingleStream output tok/s': '55.6 vs 47.6 (1.17×)',
      'Offline output tok/s': '222.2 vs 190.5 (1.17×)',
      'Server max rate meeting constraints (req/s)': '3.00 vs 1.50 (2.00×)',
    });
    expect(comparisonFigures(compareEngines(o, undefined), false)['Offline output tok/s']).toBe('222.2');
    // a peer that ran but had no passing rate
    const failing = await engineRun('llama.cpp (node-llama-cpp)', { prefillMs: 25, perTokenMs: 20 }, null);
    expect(comparisonFigures(compareEngines(o, failing), true)['Server max rate meeting constraints (req/s)']).toBe('3.00 vs — (—)');
  });
});

describe('toConfigurationTable and configurationSummary', () => {
  const config = (numSequences: number, matmulPrecision: string, details: string): EngineConfig => ({
    numSequences,
    contextSize: 392,
    numKvTokens: numSequences * 392,
    matmulPrecision,
    threads: 2,
    details,
  });
  const ours: EngineConfigs = {
    name: 'Peregrine (native-amx-bf16)',
    configs: { 'single-stream': config(1, 'bf16', 'paged KV'), offline: config(8, 'bf16', 'paged KV'), server: config(8, 'bf16', 'paged KV') },
  };
  const llamaCpp = (singleStream: number): EngineConfigs => ({
    name: 'llama.cpp (node-llama-cpp)',
    configs: { 'single-stream': config(singleStream, 'exact', 'flash attention auto'), offline: config(8, 'exact', 'flash attention auto'), server: config(8, 'exact', 'flash attention auto') },
  });

  it('prints each engine\'s sequences, context, KV cache, matmul precision and threads per scenario', () => {
    const lines = toConfigurationTable([ours, llamaCpp(1)]).split('\n');
    expect(lines[0]).toBe('| Engine | Scenario | Sequences | Context per sequence | KV cache (tokens) | Matmul precision | Threads | Other settings |');
    expect(lines[2]).toBe('| Peregrine (native-amx-bf16) | SingleStream | 1 | 392 | 392 | bf16 | 2 | paged KV |');
    expect(lines[3]).toBe('| Peregrine (native-amx-bf16) | Offline | 8 | 392 | 3136 | bf16 | 2 | paged KV |');
    expect(lines[5]).toBe('| llama.cpp (node-llama-cpp) | SingleStream | 1 | 392 | 392 | exact | 2 | flash attention auto |');
    expect(lines[6]).toBe('| llama.cpp (node-llama-cpp) | Offline | 8 | 392 | 3136 | exact | 2 | flash attention auto |');
    expect(lines[7]).toBe('| llama.cpp (node-llama-cpp) | Server | 8 | 392 | 3136 | exact | 2 | flash attention auto |');
    expect(lines[9]).toMatch(/^Each engine runs each scenario in its own best configuration, as MLPerf submitters do: SingleStream .* one sequence/);
    // a SingleStream run in the 8-sequence context would show up
    expect(toConfigurationTable([ours, llamaCpp(8)])).toContain('| llama.cpp (node-llama-cpp) | SingleStream | 8 | 392 | 3136 |');
  });

  it('marks a scenario that did not run', () => {
    const { server: _, ...rest } = ours.configs;
    expect(toConfigurationTable([{ name: ours.name, configs: rest }])).toContain('| Peregrine (native-amx-bf16) | Server | — | — | — | — | — | not run |');
  });

  it('sums the sequences per scenario up for the history, per engine where they differ', () => {
    expect(configurationSummary([ours, llamaCpp(1)])).toBe("sequences per scenario, each engine's best: SingleStream 1, Offline 8, Server 8");
    expect(configurationSummary([ours])).toBe("sequences per scenario, each engine's best: SingleStream 1, Offline 8, Server 8");
    expect(configurationSummary([ours, llamaCpp(8)])).toBe(
      "sequences per scenario, each engine's best: Peregrine SingleStream 1, Offline 8, Server 8; llama.cpp SingleStream 8, Offline 8, Server 8",
    );
  });
});

describe('createReport', () => {
  it('drops per-request rows by default and serializes to JSON', async () => {
    const rs = await results();
    const report = createReport({ date: new Date('2026-01-02T03:04:05Z'), commit: 'abc123', engine: 'peregrine', model: 'tiny', results: rs });
    expect(report.schemaVersion).toBe(1);
    expect(report.createdAt).toBe('2026-01-02T03:04:05.000Z');
    expect(report.results.every((r) => r.requests.length === 0)).toBe(true);
    const parsed = JSON.parse(JSON.stringify(report)) as typeof report;
    expect(parsed.results[0]!.ttftMs.p99).toBe(50);
    const full = createReport({ date: new Date(), commit: 'x', engine: 'e', model: 'm', results: rs, hasRequests: true });
    expect(full.results[0]!.requests).toHaveLength(4);
    expect(report).not.toHaveProperty('configurations');
  });

  it('states the configuration of each scenario', async () => {
    const single = { numSequences: 1, contextSize: 392, numKvTokens: 392, matmulPrecision: 'exact', threads: 2, details: 'flash attention auto' };
    const configurations = { 'single-stream': single, offline: { ...single, numSequences: 8, numKvTokens: 3136 } };
    const report = createReport({ date: new Date(), commit: 'x', engine: 'llama.cpp', model: 'm', results: await results(), configurations });
    const parsed = JSON.parse(JSON.stringify(report)) as typeof report;
    expect(parsed.configurations).toEqual(configurations);
    expect(parsed.configurations!['single-stream']!.numSequences).toBe(1);
  });
});

describe('appendHistory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'peregrine-bench-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const entry = (day: string, commit: string) => ({
    date: new Date(`${day}T12:00:00Z`),
    commit,
    title: 'Llama-3.2-1B Q4_0\n2 threads',
    figures: { 'Offline output tok/s': 412.345, 'Server max rate': '3.1 req/s' },
  });

  it('creates the file with a header, then appends dated sections in order', async () => {
    const path = join(dir, 'sub', 'BENCHMARKS.md');
    await appendHistory(path, entry('2026-11-01', '0123456789abcdef'));
    await appendHistory(path, entry('2026-11-02', 'fedcba'));
    const text = await readFile(path, 'utf8');
    expect(text.startsWith(HISTORY_HEADER)).toBe(true);
    expect(text.split('# Benchmarks')).toHaveLength(2); // header written once
    expect(text).toContain('## 2026-11-01 · 0123456789ab · Llama-3.2-1B Q4_0 2 threads\n\n- Offline output tok/s: 412.35\n- Server max rate: 3.1 req/s\n');
    expect(text.indexOf('2026-11-01')).toBeLessThan(text.indexOf('2026-11-02'));
  });

  it('appends to an existing file without touching what is there', async () => {
    const path = join(dir, 'BENCHMARKS.md');
    await writeFile(path, '# My log\n\nold notes\n');
    await appendHistory(path, entry('2026-11-03', 'abc'));
    const text = await readFile(path, 'utf8');
    expect(text).toBe('# My log\n\nold notes\n' + formatHistoryEntry(entry('2026-11-03', 'abc')));
  });
});
