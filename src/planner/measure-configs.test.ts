import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors/engine-error.js';
import { enumerateCandidates } from './candidate-space.js';
import { FakeMeasurer } from './fake-measurer.js';
import { measureConfigs } from './measure-configs.js';
import type { GateResult } from './plan-row.js';
import { formatPlanTable } from './plan-table.js';
import { selectPlan } from './select-plan.js';

const weights = [
  { path: 'ref.gguf', format: 'F16' },
  { path: 'q4.gguf', format: 'Q4_0' },
  { path: 'q8.gguf', format: 'Q8_0' },
];
const gates = new Map<string, GateResult>([
  ['q4.gguf', { name: 'q4_0', isPassed: false, summary: 'mean KLD 0.2 <= 0.1 (Q4_0) MISSED' }],
  ['q8.gguf', { name: 'q8_0', isPassed: true, summary: 'mean KLD 0.01 <= 0.01 (Q8_0) pass' }],
]);

/** Throughput grows with the batch and falls with bigger weights; TPOT grows with the batch; TP=2 does not load. */
const measurer = () =>
  new FakeMeasurer((c) =>
    c.tensorParallel === 2
      ? 'the model has 3 KV heads; TP=2 does not divide them'
      : { ttftMs: 10 * c.maxNumSeqs, tpotMs: 5 * c.maxNumSeqs, tokensPerSecond: (c.format === 'F16' ? 50 : 100) * c.maxNumSeqs },
  );

describe('measureConfigs', () => {
  const configs = enumerateCandidates({ weights, numCores: 2, batchSizes: [1, 4], kvCacheTypes: ['f16'], pipelineParallel: [1] });

  it('measures admitted formats in order, skips a missed gate, records a config that fails to load and goes on', async () => {
    const fake = measurer();
    const rows = await measureConfigs(configs, (c) => gates.get(c.modelPath), fake);
    expect(rows.map((r) => r.config)).toEqual(configs);
    expect(fake.measured.map((c) => c.format)).not.toContain('Q4_0');
    expect(fake.measured).toHaveLength(8); // F16 and Q8_0, TP 1 and 2, batches 1 and 4
    const q4 = rows.filter((r) => r.config.format === 'Q4_0');
    expect(q4.every((r) => r.measurement === undefined && r.failure === 'missed the q4_0 gate')).toBe(true);
    const tp2 = rows.filter((r) => r.config.tensorParallel === 2 && r.config.format !== 'Q4_0');
    expect(tp2.every((r) => r.measurement === undefined && /TP=2 does not divide/.test(r.failure!))).toBe(true);
    expect(rows.find((r) => r.config.format === 'Q8_0' && r.config.maxNumSeqs === 4)!.measurement).toEqual({ ttftMs: 40, tpotMs: 20, tokensPerSecond: 400 });
  });

  it('an error other than an EngineError is a bug: the sweep stops', async () => {
    const fake = new FakeMeasurer(() => {
      throw new TypeError('bug');
    });
    await expect(measureConfigs(configs, () => undefined, fake)).rejects.toThrow(TypeError);
    const invalid = new FakeMeasurer(() => {
      throw new InvalidRequestError('INVALID_ARGUMENT', 'kvCacheType must be f16 or f32');
    });
    const rows = await measureConfigs(configs.slice(0, 1), () => undefined, invalid);
    expect(rows[0]!.failure).toBe('kvCacheType must be f16 or f32');
  });

  it('the table: one line per config, the choice marked, the gate and the budget verdict or why it was not measured', async () => {
    const rows = await measureConfigs(configs, (c) => gates.get(c.modelPath), measurer());
    const budget = { maxTpotMs: 10 };
    const choice = selectPlan(rows, budget);
    expect(choice.kind === 'chosen' && choice.row.config.format).toBe('Q8_0');
    const lines = formatPlanTable(rows, budget, choice.kind === 'chosen' ? choice.row : undefined).split('\n');
    expect(lines[0]).toBe('|  | TP | PP | threads | batch | format | KV | TTFT ms | TPOT ms | tok/s | gate | within budget |');
    expect(lines).toHaveLength(2 + configs.length);
    expect(lines.slice(2)).toEqual([
      '|  | 1 | 1 | 2 | 1 | F16 | f16 | 10.0 | 5.0 | 50.0 | reference | yes |',
      '|  | 1 | 1 | 2 | 4 | F16 | f16 | 40.0 | 20.0 | 200.0 | reference | no |',
      '|  | 2 | 1 | 1 | 1 | F16 | f16 | - | - | - | reference | not measured: the model has 3 KV heads; TP=2 does not divide them |',
      '|  | 2 | 1 | 1 | 4 | F16 | f16 | - | - | - | reference | not measured: the model has 3 KV heads; TP=2 does not divide them |',
      '|  | 1 | 1 | 2 | 1 | Q4_0 | f16 | - | - | - | q4_0 missed | not measured: missed the q4_0 gate |',
      '|  | 1 | 1 | 2 | 4 | Q4_0 | f16 | - | - | - | q4_0 missed | not measured: missed the q4_0 gate |',
      '|  | 2 | 1 | 1 | 1 | Q4_0 | f16 | - | - | - | q4_0 missed | not measured: missed the q4_0 gate |',
      '|  | 2 | 1 | 1 | 4 | Q4_0 | f16 | - | - | - | q4_0 missed | not measured: missed the q4_0 gate |',
      '| * | 1 | 1 | 2 | 1 | Q8_0 | f16 | 10.0 | 5.0 | 100.0 | q8_0 passed | yes |',
      '|  | 1 | 1 | 2 | 4 | Q8_0 | f16 | 40.0 | 20.0 | 400.0 | q8_0 passed | no |',
      '|  | 2 | 1 | 1 | 1 | Q8_0 | f16 | - | - | - | q8_0 passed | not measured: the model has 3 KV heads; TP=2 does not divide them |',
      '|  | 2 | 1 | 1 | 4 | Q8_0 | f16 | - | - | - | q8_0 passed | not measured: the model has 3 KV heads; TP=2 does not divide them |',
    ]);
  });
});
