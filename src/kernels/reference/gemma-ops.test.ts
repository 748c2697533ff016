import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import type { HostKvView } from '../host-kv-cache.js';
import type { AttentionShape } from '../kernel-backend.js';
import { geglu, geluF32 } from './gelu.js';
import { ReferenceBackend } from './reference-backend.js';

const backend = new ReferenceBackend();
const rng = new Rng(19);
const gaussian = (n: number, scale = 1): Float32Array => Float32Array.from({ length: n }, () => rng.gaussian() * scale);

describe('reference attention: sliding window and soft-cap', () => {
  const numKvHeads = 2;
  const headDim = 16;
  const kvDim = numKvHeads * headDim;
  const shape: AttentionShape = { numHeads: 4, numKvHeads, headDim, scale: 0.25 };
  const numSlots = 64;
  const k = gaussian(numSlots * kvDim, 2);
  const v = gaussian(numSlots * kvDim);
  const q = gaussian(shape.numHeads * headDim, 2);
  const view = (kk: Float32Array, vv: Float32Array): HostKvView => ({ dtype: 'f32', k: kk, v: vv, blockSize: 16, blockTable: Int32Array.from([0, 1, 2, 3]) });
  const attend = (kvView: HostKvView, position: number, s: AttentionShape): Float32Array => {
    const out = new Float32Array(q.length);
    backend.attention(out, q, kvView, kvView.blockTable, Int32Array.from([position]), 1, s);
    return out;
  };

  it('a window of w at position p is plain causal attention over positions p-w+1..p alone', () => {
    const p = 40;
    const w = 7;
    // the same keys and values at slots 0..w-1, the query at position w-1: nothing before them exists
    const kOnly = k.slice((p - w + 1) * kvDim, (p + 1) * kvDim);
    const vOnly = v.slice((p - w + 1) * kvDim, (p + 1) * kvDim);
    const padded = (x: Float32Array): Float32Array => {
      const out = new Float32Array(numSlots * kvDim);
      out.set(x);
      return out;
    };
    const windowed = attend(view(k, v), p, { ...shape, window: w });
    expect(windowed).toEqual(attend(view(padded(kOnly), padded(vOnly)), w - 1, shape));
    expect(windowed).not.toEqual(attend(view(k, v), p, shape));
    // a window reaching position 0 changes nothing
    expect(attend(view(k, v), p, { ...shape, window: p + 1 })).toEqual(attend(view(k, v), p, shape));
  });

  it('a window of 1 gives each head its own position\'s V', () => {
    const p = 33;
    const out = attend(view(k, v), p, { ...shape, window: 1 });
    for (let h = 0; h < shape.numHeads; h++) {
      const kvHead = Math.floor(h / (shape.numHeads / numKvHeads));
      expect(out.subarray(h * headDim, (h + 1) * headDim)).toEqual(v.subarray(p * kvDim + kvHead * headDim, p * kvDim + (kvHead + 1) * headDim));
    }
  });

  it('soft-capped scores are softmax(cap · tanh(q·k / cap) · scale), computed here in double', () => {
    const p = 20;
    const cap = 3;
    const out = attend(view(k, v), p, { ...shape, softcap: cap });
    for (let h = 0; h < shape.numHeads; h++) {
      const kvHead = Math.floor(h / 2);
      const scores = Array.from({ length: p + 1 }, (_, j) => {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q[h * headDim + d]! * k[j * kvDim + kvHead * headDim + d]!;
        return cap * Math.tanh(dot / cap) * shape.scale;
      });
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let d = 0; d < headDim; d++) {
        const want = e.reduce((acc, x, j) => acc + x * v[j * kvDim + kvHead * headDim + d]!, 0) / sum;
        expect(out[h * headDim + d]).toBeCloseTo(want, 5);
      }
    }
  });
});

describe('GELU (tanh form) as ggml reads it from its f16 table', () => {
  it('is the tanh approximation of GELU, within f16 rounding', () => {
    // 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))): gelu(1) = 0.841192, gelu(-1) = -0.158808, gelu(2) = 1.954598
    for (const [x, want] of [[1, 0.841192], [-1, -0.158808], [2, 1.954598], [0, 0]] as const) {
      expect(geluF32(x)).toBeCloseTo(want, 5);
      const out = new Float32Array(1);
      geglu(out, Float32Array.of(x), Float32Array.of(1), 1);
      expect(Math.abs(out[0]! - want)).toBeLessThanOrEqual(Math.abs(want) * 2 ** -10 + 1e-7);
    }
  });

  it('reads the table for inputs rounded to f16 (not the formula), 0 at or below -10, the identity at or above 10', () => {
    const gate = Float32Array.of(1.0001, -10, -11, 10, 12, 9.99);
    const up = Float32Array.of(1, 1, 1, 2, 3, 1);
    const out = new Float32Array(gate.length);
    geglu(out, gate, up, gate.length);
    // 1.0001 rounds to f16 1.0: the table's gelu(1), not gelu(1.0001)
    const g1 = new Float32Array(1);
    geglu(g1, Float32Array.of(1), Float32Array.of(1), 1);
    expect(out[0]).toBe(g1[0]);
    expect(out[1]).toBe(0);
    expect(out[2]).toBe(0);
    expect(out[3]).toBe(20);
    expect(out[4]).toBe(36);
    expect(out[5]).toBeCloseTo(9.99, 1);
  });
});
