import { describe, expect, it } from 'vitest';
import { quantizeReferenceLogProbs } from './reference-log-probs.js';
import { compareToken } from './token-divergence.js';

const logits = (...probs: number[]) => Float32Array.from(probs, Math.log);

describe('compareToken (llama.cpp per-position statistics)', () => {
  it('p = (1/2, 1/4, 1/4), q = (1/4, 1/2, 1/4): KL = ln2/4, Δp and NLLs of token 0, different tops', () => {
    const t = compareToken(logits(0.25, 0.5, 0.25), quantizeReferenceLogProbs(logits(0.5, 0.25, 0.25)), 0);
    // KL(p||q) = 1/2 ln(2) + 1/4 ln(1/2) + 1/4 ln(1) = ln(2)/4
    expect(t.kld).toBeCloseTo(Math.log(2) / 4, 3);
    expect(t.nll).toBeCloseTo(Math.log(4), 6);
    expect(t.nllReference).toBeCloseTo(Math.log(2), 3);
    expect(t.deltaP).toBeCloseTo(0.25 - 0.5, 3);
    expect(t.isSameTop).toBe(false);
  });

  it('KL is not symmetric: swapping the roles gives KL(q||p)', () => {
    // p = (0.9, 0.1), q = (0.5, 0.5): KL(p||q) = 0.9 ln 1.8 + 0.1 ln 0.2; KL(q||p) = 0.5 ln(0.5/0.9) + 0.5 ln 5
    const a = compareToken(logits(0.5, 0.5), quantizeReferenceLogProbs(logits(0.9, 0.1)), 1);
    const b = compareToken(logits(0.9, 0.1), quantizeReferenceLogProbs(logits(0.5, 0.5)), 1);
    expect(a.kld).toBeCloseTo(0.9 * Math.log(1.8) + 0.1 * Math.log(0.2), 3);
    expect(b.kld).toBeCloseTo(0.5 * Math.log(0.5 / 0.9) + 0.5 * Math.log(5), 3);
    expect(a.deltaP).toBeCloseTo(0.5 - 0.1, 3);
  });

  it('the same logits: KL ~ 0 (only the 16-bit storage), same top, Δp ~ 0', () => {
    const l = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i) * 4);
    const t = compareToken(l, quantizeReferenceLogProbs(l), 7);
    expect(Math.abs(t.kld)).toBeLessThan(1e-4);
    expect(t.isSameTop).toBe(true);
    expect(Math.abs(t.deltaP)).toBeLessThan(1e-4);
    expect(t.nll).toBeCloseTo(t.nllReference, 3);
  });

  it('top token on a tie is the first, on both sides', () => {
    expect(compareToken(Float32Array.of(1, 1, 0), quantizeReferenceLogProbs(Float32Array.of(1, 1, 0)), 0).isSameTop).toBe(true);
    expect(compareToken(Float32Array.of(0, 1, 1), quantizeReferenceLogProbs(Float32Array.of(1, 1, 0)), 0).isSameTop).toBe(false);
  });

  it('reference tokens 16 nats or more below the top are left out of the sum', () => {
    // p: token 1 is 30 nats down, stored at the floor (log p = -16 - lse); q puts it 1000 nats down.
    // Counted, its term would be e^-16 (-16 + 1000) = 1.1e-4; left out, KL = p0 ln(p0/q0) ~ 0.
    const t = compareToken(Float32Array.of(0, -1000), quantizeReferenceLogProbs(Float32Array.of(0, -30)), 0);
    expect(Math.abs(t.kld)).toBeLessThan(1e-6);
  });
});
