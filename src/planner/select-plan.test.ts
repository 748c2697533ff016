import { describe, expect, it } from 'vitest';
import type { Measurement } from './measurer.js';
import type { PlanConfig } from './plan-config.js';
import type { GateResult, PlanRow } from './plan-row.js';
import { selectPlan } from './select-plan.js';

function config(over: Partial<PlanConfig> = {}): PlanConfig {
  return { modelPath: 'm.gguf', format: 'F16', tensorParallel: 1, pipelineParallel: 1, threadsPerWorker: 2, maxNumSeqs: 1, kvCacheType: 'f16', ...over };
}

function row(m: Measurement | undefined, over: Partial<PlanConfig> = {}, gate?: GateResult): PlanRow {
  return { config: config(over), gate, measurement: m, failure: m ? undefined : 'failed to load' };
}

const m = (ttftMs: number, tpotMs: number, tokensPerSecond: number): Measurement => ({ ttftMs, tpotMs, tokensPerSecond });
const passed: GateResult = { name: 'q8_0', isPassed: true, summary: '' };
const missed: GateResult = { name: 'q4_0', isPassed: false, summary: '' };

describe('selectPlan', () => {
  it('picks the most tokens/s among rows within both bounds, ignoring faster rows outside', () => {
    const rows = [row(m(50, 20, 40), { maxNumSeqs: 1 }), row(m(120, 30, 100), { maxNumSeqs: 4 }), row(m(300, 60, 200), { maxNumSeqs: 16 }), row(m(90, 25, 90), { maxNumSeqs: 8 })];
    const choice = selectPlan(rows, { maxTtftMs: 200, maxTpotMs: 40 });
    expect(choice).toEqual({ kind: 'chosen', row: rows[1] });
    // without bounds the fastest wins
    expect(selectPlan(rows, {})).toEqual({ kind: 'chosen', row: rows[2] });
  });

  it('bounds are inclusive: a row exactly at both bounds fits', () => {
    const rows = [row(m(100, 40, 10)), row(m(100.001, 40, 50), { maxNumSeqs: 4 }), row(m(100, 40.001, 60), { maxNumSeqs: 8 })];
    expect(selectPlan(rows, { maxTtftMs: 100, maxTpotMs: 40 })).toEqual({ kind: 'chosen', row: rows[0] });
  });

  it('only one bound given: the other latency is unbounded', () => {
    const rows = [row(m(5000, 10, 10)), row(m(10, 50, 20), { maxNumSeqs: 4 })];
    expect(selectPlan(rows, { maxTpotMs: 20 })).toEqual({ kind: 'chosen', row: rows[0] });
    expect(selectPlan(rows, { maxTtftMs: 20 })).toEqual({ kind: 'chosen', row: rows[1] });
  });

  it('skips formats that missed their gate and rows without a measurement; admits passed gates', () => {
    const rows = [row(m(10, 10, 10)), row(m(10, 10, 99), { format: 'Q4_0' }, missed), row(undefined, { tensorParallel: 2 }), row(m(10, 10, 30), { format: 'Q8_0' }, passed)];
    expect(selectPlan(rows, { maxTtftMs: 100, maxTpotMs: 100 })).toEqual({ kind: 'chosen', row: rows[3] });
  });

  it('ties on tokens/s go to fewer workers, then to the lower TPOT', () => {
    const rows = [row(m(10, 5, 50), { tensorParallel: 2, threadsPerWorker: 1 }), row(m(10, 11, 50)), row(m(10, 10, 50), { kvCacheType: 'f32' })];
    expect(selectPlan(rows, {})).toEqual({ kind: 'chosen', row: rows[2] });
  });

  it('nothing fits: names the admitted row whose worse latency is the smallest multiple of its bound', () => {
    const rows = [
      row(m(300, 20, 10)), // TTFT 3x its bound
      row(m(150, 30, 20), { maxNumSeqs: 4 }), // 1.5x (TTFT), TPOT 1.5x
      row(m(110, 60, 30), { maxNumSeqs: 8 }), // TPOT 3x
      row(m(101, 21, 90), { format: 'Q4_0' }, missed), // closer, but not admitted
    ];
    const choice = selectPlan(rows, { maxTtftMs: 100, maxTpotMs: 20 });
    expect(choice.kind).toBe('none');
    if (choice.kind !== 'none') return;
    expect(choice.closest).toBe(rows[1]);
    expect(choice.message).toBe(
      'no configuration meets TTFT <= 100 ms, TPOT <= 20 ms; the closest is TP=1 PP=1, 2 threads per worker, batch 4, F16, KV f16: TTFT 150.0 ms, TPOT 30.0 ms (1.50x its bound)',
    );
  });

  it('nothing measured: no closest row, a message saying so', () => {
    const choice = selectPlan([row(undefined), row(m(1, 1, 1), {}, missed)], {});
    expect(choice).toEqual({ kind: 'none', closest: undefined, message: expect.stringMatching(/^no configuration could be measured/) });
  });
});
