import { describe, expect, it } from 'vitest';
import { ACCURACY_GATES, checkGate, findGate } from './accuracy-gates.js';
import type { DivergenceStatistics } from './divergence-statistics.js';

function stats(meanKld: number, sameTop: number): DivergenceStatistics {
  const e = (value: number) => ({ value, uncertainty: 0 });
  return {
    numTokens: 100,
    ppl: e(2),
    pplReference: e(2),
    pplCorrelation: null,
    lnPplRatio: e(0),
    pplRatio: e(1),
    pplDifference: e(0),
    kld: { mean: e(meanKld), quantiles: {} },
    deltaP: { mean: e(0), rms: e(0), quantiles: {} },
    sameTop: e(sameTop),
  };
}

describe('accuracy gates (issue 18 defaults)', () => {
  it('anchors: FP8 and Q8_0 against Q8_0 on KLD and same top; MXFP4, NVFP4, Q4_0 against Q4_0; calibrated 4-bit against Q4_K', () => {
    expect(ACCURACY_GATES.map((g) => [g.name, g.anchor, g.isSameTopGated])).toEqual([
      ['fp8', 'Q8_0', true],
      ['q8_0', 'Q8_0', true],
      ['mxfp4', 'Q4_0', false],
      ['nvfp4', 'Q4_0', false],
      ['q4_0', 'Q4_0', false],
      ['calibrated-4bit', 'Q4_K', false],
    ]);
    expect(findGate('MXFP4')?.name).toBe('mxfp4');
    expect(findGate('q5_0')).toBeUndefined();
  });

  it('passes at equality (the anchor itself passes its own gate)', () => {
    expect(checkGate(findGate('q8_0')!, stats(0.01, 0.95), stats(0.01, 0.95)).isPassed).toBe(true);
  });

  it('a higher mean KLD misses; for Q8_0/FP8 so does a lower same-top rate, with the check that failed named', () => {
    const q8 = findGate('fp8')!;
    const higherKld = checkGate(q8, stats(0.0101, 0.99), stats(0.01, 0.95));
    expect(higherKld.isPassed).toBe(false);
    expect(higherKld.checks.map((c) => [c.metric, c.isPassed])).toEqual([['mean KLD', false], ['same top', true]]);
    const lowerTop = checkGate(q8, stats(0.001, 0.949), stats(0.01, 0.95));
    expect(lowerTop.isPassed).toBe(false);
    expect(lowerTop.checks.find((c) => !c.isPassed)).toMatchObject({ metric: 'same top', value: 0.949, bound: 0.95, kind: 'min' });
  });

  it('4-bit gates look at the mean KLD only', () => {
    const outcome = checkGate(findGate('nvfp4')!, stats(0.05, 0.5), stats(0.06, 0.9));
    expect(outcome.isPassed).toBe(true);
    expect(outcome.checks).toHaveLength(1);
  });
});
