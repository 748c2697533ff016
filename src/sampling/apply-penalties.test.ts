import { describe, expect, it } from 'vitest';
import { applyPenalties } from './apply-penalties.js';

const NO_PENALTIES = { repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0 };

describe('applyPenalties', () => {
  it('divides positive logits and multiplies negative ones by the repetition penalty', () => {
    const logits = Float32Array.from([2, -2, 0, 1.5]);
    applyPenalties(logits, new Map([[0, 1], [1, 5], [2, 1]]), { ...NO_PENALTIES, repetitionPenalty: 1.25 });
    expect(Array.from(logits)).toEqual([Math.fround(2 / 1.25), Math.fround(-2 * 1.25), 0, 1.5]);
  });

  it('subtracts count × frequency penalty and, once, the presence penalty', () => {
    const logits = Float32Array.from([1, 1, 1, 1]);
    applyPenalties(logits, new Map([[0, 1], [1, 2], [3, 7]]), { ...NO_PENALTIES, frequencyPenalty: 0.5, presencePenalty: 0.25 });
    expect(Array.from(logits)).toEqual([1 - 0.5 - 0.25, 1 - 1 - 0.25, 1, Math.fround(1 - 3.5 - 0.25)]);
  });

  it('applies repetition first, then frequency and presence, to the exact float32 values', () => {
    const logits = Float32Array.from([2, -2, 0, 1.5, -0.5]);
    applyPenalties(logits, new Map([[0, 1], [1, 2], [2, 3]]), {
      repetitionPenalty: 1.3,
      frequencyPenalty: 0.4,
      presencePenalty: -0.2,
    });
    expect(Array.from(logits)).toEqual([
      Math.fround(2 / 1.3 - (0.4 - 0.2)),
      Math.fround(-2 * 1.3 - (0.8 - 0.2)),
      Math.fround(0 - (1.2 - 0.2)),
      1.5,
      -0.5,
    ]);
  });

  it('changes nothing when every penalty is off', () => {
    const logits = Float32Array.from([0.3, -0.7, 2]);
    applyPenalties(logits, new Map([[0, 3], [1, 1]]), NO_PENALTIES);
    expect(Array.from(logits)).toEqual(Array.from(Float32Array.from([0.3, -0.7, 2])));
  });

  it('rejects a history token outside the vocab', () => {
    expect(() => applyPenalties(new Float32Array(4), new Map([[4, 1]]), NO_PENALTIES)).toThrow(/outside the vocab/);
  });
});
