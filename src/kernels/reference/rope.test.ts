import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import type { RopeParams } from '../kernel-backend.js';
import { ReferenceBackend } from './reference-backend.js';

const backend = new ReferenceBackend();
const rng = new Rng(23);

describe('reference rope: partial rotary and the attention factor (Phi-3 LongRoPE)', () => {
  const [numTokens, numHeads, headDim, numRotaryDims] = [4, 2, 16, 12];
  const x = Float32Array.from({ length: numTokens * numHeads * headDim }, () => rng.gaussian());
  const positions = Int32Array.from([0, 3, 17, 900]);
  const plain: RopeParams = { mode: 'neox', numRotaryDims, freqBase: 10000, freqScale: 1, freqFactors: Float32Array.from({ length: 6 }, (_, i) => 1 + i) };
  const rope = (p: RopeParams): Float32Array => {
    const out = x.slice();
    backend.rope(out, numTokens, numHeads, headDim, positions, p);
    return out;
  };

  it('scales the rotated dimensions by the attention factor and leaves the others as they were', () => {
    const factor = 1.25; // a power of two times 5/4: products stay within one f32 rounding
    const base = rope(plain);
    const scaled = rope({ ...plain, attnFactor: factor });
    for (let row = 0; row < numTokens * numHeads; row++) {
      for (let d = 0; d < headDim; d++) {
        const i = row * headDim + d;
        if (d < numRotaryDims) expect(scaled[i]).toBeCloseTo(base[i]! * factor, 5);
        else expect(scaled[i]).toBe(x[i]); // NEOX rotates x[i] with x[i + 6] for i < 6; dims 12..15 pass through
      }
    }
    expect(rope({ ...plain, attnFactor: 1 })).toEqual(base);
  });

  it('divides each pair\'s angle by its frequency factor (position 0 is the identity whatever the factors)', () => {
    const out = rope(plain);
    expect(out.subarray(0, numHeads * headDim)).toEqual(x.subarray(0, numHeads * headDim));
    expect(rope({ ...plain, freqFactors: plain.freqFactors!.map((f) => f * 2) })).not.toEqual(out);
  });
});
