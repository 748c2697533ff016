import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { FakeBenchTarget } from './fake-engine.js';
import { runScenarios, type ScenarioPlan } from './run-scenarios.js';

/** 1 sequence: 10 ms a token; 8 sequences: 10 + 7 × 5 = 45 ms a token (a peer slowed by its multi-sequence context) */
function setUp(): { clock: FakeClock; target: FakeBenchTarget; plan: ScenarioPlan } {
  const clock = new FakeClock();
  const target = new FakeBenchTarget('llama.cpp (fake)', clock, {
    timing: { prefillMs: 50, perTokenMs: 10 },
    perExtraSequenceMs: 5,
    maxNumSeqs: 8,
    contextSize: 40,
    threads: 2,
  });
  const plan: ScenarioPlan = {
    numSingleStream: 3,
    numOffline: 4,
    numServer: 4,
    maxServerTrials: 2,
    startRatePerSecond: 1,
    canStopEarly: true,
    minServerSeconds: 1,
    inputLength: { kind: 'fixed', value: 8 },
    outputLength: { kind: 'fixed', value: 5 },
    constraints: { ttftP99Ms: 2000, tpotP99Ms: 200 },
    seed: 1,
    vocabSize: 4096,
    log: () => {},
    clock,
  };
  return { clock, target, plan };
}

describe('runScenarios', () => {
  it('opens SingleStream with one sequence and Offline and Server with maxNumSeqs, one engine at a time', async () => {
    const { target, plan } = setUp();
    const run = await runScenarios(target, plan);
    // a fresh engine per scenario and per Server trial, never two at once (the fake throws then)
    expect(target.opens.map((x) => x.scenario)).toEqual(['single-stream', 'offline', 'server', 'server']);
    expect(target.opens.map((x) => x.config.numSequences)).toEqual([1, 8, 8, 8]);
    expect(run.configs['single-stream']).toMatchObject({ numSequences: 1, contextSize: 40, numKvTokens: 40, threads: 2 });
    expect(run.configs.offline).toMatchObject({ numSequences: 8, numKvTokens: 320 });
    expect(run.configs.server).toMatchObject({ numSequences: 8, numKvTokens: 320 });
  });

  it('measures SingleStream on the one-sequence engine, not on the multi-sequence one', async () => {
    const { target, plan } = setUp();
    const run = await runScenarios(target, plan);
    const [single, offline] = run.results;
    expect(single!.scenario).toBe('single-stream');
    // 10 ms a token with one sequence; the 8-sequence engine would give 45
    expect(single!.tpotMs.p50).toBe(target.perTokenMs(1));
    expect(single!.tpotMs.p99).toBe(10);
    expect(single!.outputTokensPerSecond).toBeCloseTo(15 / 0.27, 9); // 3 requests of 50 + 4 × 10 ms
    expect(offline!.scenario).toBe('offline');
    expect(offline!.tpotMs.p50).toBe(target.perTokenMs(8));
    expect(run.serverTrials.every((t) => t.tpotMs.p50 === 45)).toBe(true);
  });
});
