import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { FixedDelayEngine } from './fake-engine.js';
import { appendHistory, createReport, formatHistoryEntry, HISTORY_HEADER, toMarkdownTable } from './report.js';
import { runOffline, runServer, type ScenarioResult } from './scenario.js';

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
