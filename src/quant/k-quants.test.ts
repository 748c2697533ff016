import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GgmlType } from '../formats/ggml-type.js';
import { Rng } from '../util/rng.js';
import { codecFor, dequantize, quantize } from './index.js';
import { f16ToF32, f32ToF16 } from './float16.js';
import { quantizeKQuant } from './k-quants.js';

const K_TYPES = [GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q8_K] as const;

function gaussian(n: number, std: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.gaussian() * std;
  return x;
}

function rmse(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(sum / a.length);
}

function sha16(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** 32 blocks of awkward data: varied scales, one-signed, zero sub-blocks, zero blocks, heavy tails, integers. */
function goldenInput(): Float32Array {
  const rng = new Rng(2024);
  const x = new Float32Array(32 * 256);
  for (let b = 0; b < 32; b++) {
    const scale = Math.exp(rng.gaussian() * 2);
    for (let j = 0; j < 256; j++) {
      const g = rng.gaussian();
      const i = b * 256 + j;
      switch (b % 8) {
        case 0: x[i] = g * scale; break;
        case 1: x[i] = g * 0.02; break;
        case 2: x[i] = rng.next() * scale; break;
        case 3: x[i] = -rng.next() * 1e-3; break;
        case 4: x[i] = j < 96 ? 0 : g * 100; break;
        case 5: x[i] = 0; break;
        case 6: x[i] = g * g * g * scale; break;
        case 7: x[i] = (j % 7) - 3; break;
      }
    }
  }
  return x;
}

describe('k-quant codecs', () => {
  it('are registered with their ggml block sizes', () => {
    const x = gaussian(512, 1, 1);
    expect(quantize(GgmlType.Q4_K, x).length).toBe(2 * 144);
    expect(quantize(GgmlType.Q5_K, x).length).toBe(2 * 176);
    expect(quantize(GgmlType.Q6_K, x).length).toBe(2 * 210);
    expect(quantize(GgmlType.Q8_K, x).length).toBe(2 * 292);
  });

  it('round-trips gaussian data with error ordered by bit width', () => {
    const std = 0.02;
    const x = gaussian(64 * 256, std, 7);
    const err = Object.fromEntries(K_TYPES.map((t) => [t, rmse(x, dequantize(t, quantize(t, x), x.length)) / std]));
    expect(err[GgmlType.Q4_K]).toBeLessThan(0.08);
    expect(err[GgmlType.Q5_K]).toBeLessThan(0.04);
    expect(err[GgmlType.Q6_K]).toBeLessThan(0.02);
    expect(err[GgmlType.Q8_K]).toBeLessThan(0.01);
    expect(err[GgmlType.Q8_K]!).toBeLessThan(err[GgmlType.Q6_K]!);
    expect(err[GgmlType.Q6_K]!).toBeLessThan(err[GgmlType.Q5_K]!);
    expect(err[GgmlType.Q5_K]!).toBeLessThan(err[GgmlType.Q4_K]!);
  });

  it("'fast' effort gives valid blocks with error close to the reference search", () => {
    const x = gaussian(16 * 256, 1, 3);
    for (const t of [GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K]) {
      const ref = rmse(x, dequantize(t, quantize(t, x), x.length));
      const fast = rmse(x, dequantize(t, quantizeKQuant(t, x, 'fast'), x.length));
      expect(fast).toBeGreaterThanOrEqual(ref * 0.99);
      expect(fast).toBeLessThan(ref * 1.25);
    }
  });

  // Hashes of ggml's own quantize_row_q*_K_ref / dequantize_row_q*_K output for goldenInput(),
  // taken from libggml-base.so shipped with node-llama-cpp 3.21.1 (x86-64, called through ctypes).
  const GGML_GOLDEN: Record<string, [quantized: string, dequantized: string]> = {
    Q4_K: ['98a4108404955d98', '6456b0c8ffde9a77'],
    Q5_K: ['6403009bf7f12dae', '7430a1510a2f3589'],
    Q6_K: ['d8ea0ee4e97cc0f8', '7754e5f584cb49b8'],
    Q8_K: ['d9f9f1566104e134', '491f323acbda0da8'],
  };

  it.each(K_TYPES.map((t) => [GgmlType[t], t] as const))('%s matches ggml bit for bit', (name, t) => {
    const x = goldenInput();
    const q = quantize(t, x);
    const y = dequantize(t, q, x.length);
    expect([sha16(q), sha16(new Uint8Array(y.buffer))]).toEqual(GGML_GOLDEN[name]);
  });

  it('encodes all-zero blocks as zeros', () => {
    const x = new Float32Array(256);
    for (const t of K_TYPES) {
      expect(quantize(t, x).every((b) => b === 0)).toBe(true);
      expect(dequantize(t, quantize(t, x), 256).every((v) => v === 0)).toBe(true);
    }
  });

  it('rejects lengths that are not a multiple of 256', () => {
    expect(() => quantize(GgmlType.Q4_K, new Float32Array(128))).toThrow(/multiple of 256/);
  });

  it('dequantizes a block range into an offset destination', () => {
    const x = gaussian(3 * 256, 1, 5);
    for (const t of K_TYPES) {
      const q = quantize(t, x);
      const all = dequantize(t, q, x.length);
      const dst = new Float32Array(10 + 256);
      codecFor(t)!.dequantize(q, 256, 256, dst, 10);
      expect(Array.from(dst.subarray(10))).toEqual(Array.from(all.subarray(256, 512)));
    }
  });
});

describe('k-quant block layouts (hand-built blocks)', () => {
  /** Writes 6-bit scale s[j] and min m[j] for the 8 sub-blocks into the 12-byte field, per ggml's packing. */
  function packScales(s: number[], m: number[]): number[] {
    const out = new Array<number>(12).fill(0);
    for (let j = 0; j < 8; j++) {
      if (j < 4) {
        out[j] = s[j]!;
        out[j + 4] = m[j]!;
      } else {
        out[j + 4] = (s[j]! & 0xf) | ((m[j]! & 0xf) << 4);
        out[j - 4]! |= (s[j]! >> 4) << 6;
        out[j]! |= (m[j]! >> 4) << 6;
      }
    }
    return out;
  }

  const SCALES = [1, 17, 33, 63, 5, 40, 62, 16];
  const MINS = [0, 63, 2, 31, 48, 7, 19, 60];
  const D = f32ToF16(0.0625);
  const DMIN = f32ToF16(0.015625);

  it('Q4_K: y = d*scale_j*q - dmin*min_j, sub-block pairs share bytes (low nibble, then high)', () => {
    const block = new Uint8Array(144);
    const dv = new DataView(block.buffer);
    dv.setUint16(0, D, true);
    dv.setUint16(2, DMIN, true);
    block.set(packScales(SCALES, MINS), 4);
    const q = (e: number): number => (e * 7 + 3) % 16; // element e's 4-bit level
    for (let e = 0; e < 256; e++) {
      const j = Math.floor(e / 32);
      const byte = 16 + Math.floor(j / 2) * 32 + (e % 32);
      block[byte]! |= j % 2 === 0 ? q(e) : q(e) << 4;
    }
    const y = dequantize(GgmlType.Q4_K, block, 256);
    for (let e = 0; e < 256; e++) {
      const j = Math.floor(e / 32);
      expect(y[e]).toBe(Math.fround(0.0625 * SCALES[j]! * q(e) - 0.015625 * MINS[j]!));
    }
  });

  it('Q5_K: the 5th bit of element e comes from qh[e % 32], bit floor(e / 32)', () => {
    const block = new Uint8Array(176);
    const dv = new DataView(block.buffer);
    dv.setUint16(0, D, true);
    dv.setUint16(2, DMIN, true);
    block.set(packScales(SCALES, MINS), 4);
    const q = (e: number): number => (e * 13 + 5) % 32;
    for (let e = 0; e < 256; e++) {
      const j = Math.floor(e / 32);
      const byte = 48 + Math.floor(j / 2) * 32 + (e % 32);
      block[byte]! |= j % 2 === 0 ? q(e) & 0xf : (q(e) & 0xf) << 4;
      if (q(e) & 16) block[16 + (e % 32)]! |= 1 << j;
    }
    const y = dequantize(GgmlType.Q5_K, block, 256);
    for (let e = 0; e < 256; e++) {
      const j = Math.floor(e / 32);
      expect(y[e]).toBe(Math.fround(0.0625 * SCALES[j]! * q(e) - 0.015625 * MINS[j]!));
    }
  });

  it('Q6_K: y = d*scale_(e/16)*(q-32) with ql/qh interleaved per 128-element half', () => {
    const block = new Uint8Array(210);
    const dv = new DataView(block.buffer);
    const scales = Array.from({ length: 16 }, (_, i) => (i * 37) % 256 - 128);
    scales.forEach((s, i) => dv.setInt8(192 + i, s));
    dv.setUint16(208, f32ToF16(0.001), true);
    const q = (e: number): number => (e * 11 + 9) % 64;
    for (let e = 0; e < 256; e++) {
      const half = Math.floor(e / 128);
      const r = e % 128; // position within the half: quarter r/32, lane r%32
      const quarter = Math.floor(r / 32);
      const lane = r % 32;
      const qlByte = 64 * half + lane + (quarter % 2) * 32;
      block[qlByte]! |= quarter < 2 ? q(e) & 0xf : (q(e) & 0xf) << 4;
      block[128 + 32 * half + lane]! |= (q(e) >> 4) << (2 * quarter);
    }
    const d = f16ToF32(f32ToF16(0.001));
    const y = dequantize(GgmlType.Q6_K, block, 256);
    for (let e = 0; e < 256; e++) expect(y[e]).toBe(Math.fround(d * scales[Math.floor(e / 16)]! * (q(e) - 32)));
  });

  it('Q8_K: f32 d, int8 quants, int16 sums of each 16 quants', () => {
    const x = gaussian(256, 3, 11);
    const block = quantize(GgmlType.Q8_K, x);
    const dv = new DataView(block.buffer);
    const d = dv.getFloat32(0, true);
    for (let g = 0; g < 16; g++) {
      let sum = 0;
      for (let i = 0; i < 16; i++) sum += dv.getInt8(4 + 16 * g + i);
      expect(dv.getInt16(260 + 2 * g, true)).toBe(sum);
    }
    const y = dequantize(GgmlType.Q8_K, block, 256);
    for (let i = 0; i < 256; i++) expect(y[i]).toBe(Math.fround(d * dv.getInt8(4 + i)));
    expect(Math.max(...Array.from({ length: 256 }, (_, i) => Math.abs(dv.getInt8(4 + i))))).toBe(127);
  });
});
