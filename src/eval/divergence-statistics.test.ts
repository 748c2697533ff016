import { describe, expect, it } from 'vitest';
import { DivergenceAccumulator, meanAndUncertainty, median, percentile } from './divergence-statistics.js';
import type { TokenDivergence } from './token-divergence.js';

/** sample mean and its standard error (sample standard deviation / sqrt(n)): the textbook form of llama.cpp's formula */
function meanAndStandardError(xs: readonly number[]): [number, number] {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sampleVariance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
  return [mean, Math.sqrt(sampleVariance / n)];
}

// 12 tokens (llama.cpp gives no uncertainty for 10 or fewer); f32-exact values, so the f32 squares are exact too
const NLL = [1, 2, 0.5, 3, 1.5, 2.5, 0.25, 4, 1.25, 2, 3.5, 0.75];
const NLL_REF = [1.25, 1.5, 0.5, 2.5, 1.75, 2, 0.5, 3, 1, 2.25, 3, 0.5];
const KLD = [0.01, 0.02, 0, 0.5, 0.03, 0.04, 0.001, 0.25, 0.02, 0.06, 0.125, 0.005];
const DELTA_P = [-0.125, 0.25, 0, -0.5, 0.0625, -0.25, 0.125, -0.375, 0.5, 0, -0.0625, 0.125];
const SAME_TOP = [true, true, false, true, true, true, true, false, true, true, false, true]; // 9 of 12

function accumulate(): DivergenceAccumulator {
  const acc = new DivergenceAccumulator();
  NLL.forEach((nll, i) => {
    const t: TokenDivergence = { nll, nllReference: NLL_REF[i]!, kld: KLD[i]!, deltaP: DELTA_P[i]!, isSameTop: SAME_TOP[i]! };
    acc.add(t);
  });
  return acc;
}

describe('DivergenceAccumulator.summarize (llama.cpp --kl-divergence statistics)', () => {
  const s = accumulate().summarize();

  it('PPL of each model: exp of the mean NLL, uncertainty PPL × the standard error of the mean NLL', () => {
    const [m, se] = meanAndStandardError(NLL);
    expect(s.numTokens).toBe(12);
    expect(s.ppl.value).toBeCloseTo(Math.exp(m), 10);
    expect(s.ppl.uncertainty).toBeCloseTo(Math.exp(m) * se, 10);
    const [mr, ser] = meanAndStandardError(NLL_REF);
    expect(s.pplReference.value).toBeCloseTo(Math.exp(mr), 10);
    expect(s.pplReference.uncertainty).toBeCloseTo(Math.exp(mr) * ser, 10);
  });

  it('ln(PPL ratio): the mean paired difference, with the standard error of the differences (the covariance term)', () => {
    const d = NLL.map((x, i) => x - NLL_REF[i]!);
    const [m, se] = meanAndStandardError(d);
    expect(s.lnPplRatio.value).toBeCloseTo(m, 12);
    expect(s.lnPplRatio.uncertainty).toBeCloseTo(se, 10);
    expect(s.pplRatio.value).toBeCloseTo(Math.exp(m), 12);
    expect(s.pplRatio.uncertainty).toBeCloseTo(Math.exp(m) * se, 10);
    // correlation of the two NLL series (Pearson's r; the means' covariance over their standard errors)
    const [a, b] = [meanAndStandardError(NLL)[0], meanAndStandardError(NLL_REF)[0]];
    const cov = NLL.reduce((acc, x, i) => acc + (x - a) * (NLL_REF[i]! - b), 0);
    const r = cov / Math.sqrt(NLL.reduce((acc, x) => acc + (x - a) ** 2, 0) * NLL_REF.reduce((acc, x) => acc + (x - b) ** 2, 0));
    expect(s.pplCorrelation).toBeCloseTo(r, 10);
    expect(s.pplDifference.value).toBeCloseTo(s.ppl.value - s.pplReference.value, 12);
  });

  it('KL divergence: mean ± standard error, and the quantiles by linear interpolation', () => {
    const [m, se] = meanAndStandardError(KLD);
    expect(s.kld.mean.value).toBeCloseTo(m, 8);
    expect(s.kld.mean.uncertainty).toBeCloseTo(se, 8);
    // sorted: 0, .001, .005, .01, .02, .02, .03, .04, .06, .125, .25, .5
    const q = s.kld.quantiles;
    expect(q.max).toBeCloseTo(0.5, 7);
    expect(q.min).toBe(0);
    expect(q.median).toBeCloseTo((0.02 + 0.03) / 2, 7); // even count: the two middle values' mean
    expect(q['90%']).toBeCloseTo(0.125 + 0.9 * (0.25 - 0.125), 6); // 0.9 × 11 = 9.9: between the 10th and 11th values
    expect(q['99.9%']).toBeCloseTo(0.25 + 0.989 * (0.5 - 0.25), 5); // 10.989
    expect(q['10%']).toBeCloseTo(0.001 + 0.1 * (0.005 - 0.001), 7); // 1.1
    expect(Object.keys(q)).toEqual(['max', '99.9%', '99%', '95%', '90%', 'median', '10%', '5%', '1%', '0.1%', 'min']);
  });

  it('Δp: mean ± standard error, RMS with the uncertainty of the mean square propagated through the square root', () => {
    const [m, se] = meanAndStandardError(DELTA_P);
    expect(s.deltaP.mean.value).toBeCloseTo(m, 10);
    expect(s.deltaP.mean.uncertainty).toBeCloseTo(se, 10);
    const [ms, seSquares] = meanAndStandardError(DELTA_P.map((x) => x * x));
    expect(s.deltaP.rms.value).toBeCloseTo(Math.sqrt(ms), 10);
    expect(s.deltaP.rms.uncertainty).toBeCloseTo(seSquares / (2 * Math.sqrt(ms)), 10);
    expect(s.deltaP.quantiles.max).toBe(0.5);
    expect(s.deltaP.quantiles.min).toBe(-0.5);
    expect(s.deltaP.quantiles['75%']).toBeCloseTo(0.125, 7); // 0.75 × 11 = 8.25: the 9th and 10th sorted values are both 0.125
    expect(Object.keys(s.deltaP.quantiles)).toContain('25%');
  });

  it('same top: the fraction of agreeing tokens, binomial standard error with n − 1', () => {
    expect(s.sameTop.value).toBe(0.75);
    expect(s.sameTop.uncertainty).toBeCloseTo(Math.sqrt((0.75 * 0.25) / 11), 12);
  });

  it('10 tokens or fewer: no uncertainty (llama.cpp prints 0), no correlation', () => {
    const acc = new DivergenceAccumulator();
    for (let i = 0; i < 10; i++) acc.add({ nll: NLL[i]!, nllReference: NLL_REF[i]!, kld: KLD[i]!, deltaP: DELTA_P[i]!, isSameTop: true });
    const few = acc.summarize();
    expect(few.kld.mean.uncertainty).toBe(0);
    expect(few.ppl.uncertainty).toBe(0);
    expect(few.pplCorrelation).toBeNull();
    expect(meanAndUncertainty(10, 30, 10)).toEqual({ value: 1, uncertainty: 0 });
  });

  it('no tokens: an error, not NaN statistics', () => {
    expect(() => new DivergenceAccumulator().summarize()).toThrow(RangeError);
  });
});

describe('percentile and median (llama.cpp, f32)', () => {
  const v = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
  it('interpolates at fraction × (n − 1)', () => {
    expect(percentile(v, 0.9)).toBeCloseTo(10, 5); // exactly index 9
    expect(percentile(v, 0.95)).toBeCloseTo(10.5, 5);
    expect(percentile(v, 0.999)).toBeCloseTo(10.99, 5);
    expect(percentile(v, 0)).toBe(1);
    expect(percentile(v, 1)).toBe(11);
  });
  it('median: middle value, or the mean of the two middle ones', () => {
    expect(median(v)).toBe(6);
    expect(median(Float32Array.of(1, 2, 3, 4))).toBe(2.5);
  });
});
