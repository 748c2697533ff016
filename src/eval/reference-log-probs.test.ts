import { describe, expect, it } from 'vitest';
import { nearestInt, quantizeReferenceLogProbs, referenceLogProb } from './reference-log-probs.js';

describe('quantizeReferenceLogProbs (llama.cpp logits-file storage)', () => {
  it('stores the top 16 nats in 65535 steps; tokens further down get the floor', () => {
    // logits 2, 0, -20: the floor logit is max(-20, 2 - 16) = -14; lse = ln(1 + e^-2 + e^-22)
    const lse = Math.log(1 + Math.exp(-2) + Math.exp(-22));
    const ref = quantizeReferenceLogProbs(Float32Array.of(2, 0, -20));
    expect(ref.scale).toBeCloseTo(16 / 65535, 10);
    expect(ref.minLogProb).toBeCloseTo(-16 - lse, 5);
    // code = (logit - floor) / scale, rounded: 16 / (16/65535) = 65535; 14 / (16/65535) = 57343.125 -> 57343
    expect(Array.from(ref.codes)).toEqual([65535, 57343, 0]);
    expect(referenceLogProb(ref, 0)).toBeCloseTo(-lse, 5); // log softmax of the top token, exact up to f32
    expect(referenceLogProb(ref, 1)).toBeCloseTo(-2 - lse, 3); // within a step (2.4e-4) of -2 - lse
    expect(referenceLogProb(ref, 2)).toBeCloseTo(-16 - lse, 5); // the floor, not -22 - lse
  });

  it('equal logits: scale 0 and every code 0, each log-probability -ln n', () => {
    const ref = quantizeReferenceLogProbs(new Float32Array(4).fill(3));
    expect(ref.scale).toBe(0);
    expect(Array.from(ref.codes)).toEqual([0, 0, 0, 0]);
    expect(referenceLogProb(ref, 2)).toBeCloseTo(-Math.log(4), 6);
  });

  it('nearestInt rounds half to even, as ggml does', () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4999998, 65534.5].map(nearestInt)).toEqual([0, 2, 2, 4, 2, 65534]);
  });
});
