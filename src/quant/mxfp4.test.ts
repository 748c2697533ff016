import { describe, expect, it } from 'vitest';
import { GgmlType } from '../formats/ggml-type.js';
import { ggmlCQuantizer, pythonGguf } from '../testing/ggml-quant-reference.js';
import { codecFor, dequantize, quantize } from './codec.js';
import { MXFP4_KVALUES, e8m0ToF32Half } from './mxfp4.js';

/** the f32 whose bits are `bits` */
function f32Bits(bits: number): number {
  return new Float32Array(new Uint32Array([bits]).buffer)[0]!;
}

/** one block: scale byte e, then code[j] low and code[j + 16] high */
function block(e: number, codes: readonly number[]): Uint8Array {
  const out = new Uint8Array(17);
  out[0] = e;
  for (let j = 0; j < 16; j++) out[1 + j] = codes[j]! | (codes[j + 16]! << 4);
  return out;
}

/** every code low and high, in two orders */
const ALL_CODES = [...Array.from({ length: 16 }, (_, q) => q), ...Array.from({ length: 16 }, (_, q) => 15 - q)];

describe('MXFP4 codec', () => {
  it('is registered for GGUF type 39, 17 bytes per 32 values', () => {
    expect(GgmlType.MXFP4).toBe(39);
    expect(codecFor(GgmlType.MXFP4)).toBeDefined();
    expect(quantize(GgmlType.MXFP4, new Float32Array(64)).length).toBe(34);
    expect(() => quantize(GgmlType.MXFP4, new Float32Array(33))).toThrow(/multiple of 32/);
  });

  it('reads E8M0 as 2^(e-127)/2, the subnormals and e = 255 included, as ggml', () => {
    expect(e8m0ToF32Half(0)).toBe(f32Bits(0x00200000)); // 2^-128
    expect(e8m0ToF32Half(1)).toBe(f32Bits(0x00400000)); // 2^-127
    for (const e of [2, 3, 100, 127, 128, 200, 254, 255]) expect(e8m0ToF32Half(e), `e=${e}`).toBe(f32Bits((e - 1) << 23));
    expect(e8m0ToF32Half(127)).toBe(0.5);
    expect(e8m0ToF32Half(255)).toBe(2 ** 127);
  });

  it('decodes value j from the low nibble and j + 16 from the high nibble of byte j', () => {
    const values = dequantize(GgmlType.MXFP4, block(127, ALL_CODES), 32); // d = 0.5: the E2M1 values themselves
    expect([...values.subarray(0, 16)]).toEqual([0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, -0.5, -1, -1.5, -2, -3, -4, -6]);
    expect([...values.subarray(16)]).toEqual([-6, -4, -3, -2, -1.5, -1, -0.5, 0, 6, 4, 3, 2, 1.5, 1, 0.5, 0]);
    const out = new Float32Array(40).fill(NaN);
    codecFor(GgmlType.MXFP4)!.dequantize(new Uint8Array([...block(0, ALL_CODES), ...block(128, ALL_CODES)]), 32, 32, out, 8);
    expect([...out.subarray(8, 24)]).toEqual(MXFP4_KVALUES); // second block, d = 1
    expect(out[7]).toBeNaN();
  });

  it('round-trips every E2M1 code, low and high, over scales from the smallest to the largest finite one', () => {
    // a block holding ±6 keeps its scale: amax = 12 · 2^(e-128) gives e back; 12 · 2^(253-128) is past f32
    for (const e of [0, 1, 2, 64, 126, 127, 128, 129, 200, 252]) {
      const bytes = block(e, ALL_CODES);
      const values = dequantize(GgmlType.MXFP4, bytes, 32);
      for (let i = 0; i < 32; i++) expect(values[i], `e=${e} [${i}]`).toBe(MXFP4_KVALUES[ALL_CODES[i]!]! * 2 ** (e - 128));
      const again = quantize(GgmlType.MXFP4, values);
      const withPlusZero = block(e, ALL_CODES.map((q) => (q === 8 ? 0 : q))); // -0 (code 8) decodes to +0, which encodes as code 0
      expect([...again], `e=${e}`).toEqual([...withPlusZero]);
      expect([...dequantize(GgmlType.MXFP4, again, 32)]).toEqual([...values]);
    }
  });

  it('picks the scale as ggml: floor(log2f(amax)) - 2 + 127, with log2f rounded to f32', () => {
    const scaleOf = (amax: number): number => {
      const src = new Float32Array(32);
      src[5] = amax;
      return quantize(GgmlType.MXFP4, src)[0]!;
    };
    expect(scaleOf(0)).toBe(0);
    expect(scaleOf(4)).toBe(127);
    expect(scaleOf(7.5)).toBe(127);
    expect(scaleOf(8)).toBe(128);
    expect(scaleOf(Math.fround(8 - 2 ** -21))).toBe(128); // the f32 below 8: log2f rounds up to 3
    expect(scaleOf(-100)).toBe(Math.floor(Math.log2(100)) - 2 + 127);
    expect(scaleOf(2 ** -125)).toBe(0);
    expect(scaleOf(2 ** -130)).toBe(0); // ggml's cast of a negative float is undefined: clamped
    expect(scaleOf(Infinity)).toBe(255);
    const withNaN = new Float32Array(32).fill(NaN);
    withNaN[3] = 4;
    expect(quantize(GgmlType.MXFP4, withNaN)[0]).toBe(127); // NaN is skipped when finding amax
  });

  it('takes the nearest code, a tie going to the lower code (toward zero)', () => {
    const src = new Float32Array(32);
    src[0] = 4; // amax 4: e = 127, d = 0.5, so the codes are the E2M1 values
    [src[1], src[2], src[3], src[4], src[5], src[6], src[7]] = [0.25, -0.25, 2.5, 5, -5, 0.3, 5.1];
    src[16] = -1.74;
    const values = dequantize(GgmlType.MXFP4, quantize(GgmlType.MXFP4, src), 32);
    expect([...values.subarray(0, 8)]).toEqual([4, 0, 0, 2, 4, -4, 0.5, 6]);
    expect(values[16]).toBe(-1.5);
  });

  it('stays within half a code step of random values', () => {
    const src = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 7)));
    const values = dequantize(GgmlType.MXFP4, quantize(GgmlType.MXFP4, src), 256);
    for (let b = 0; b < 8; b++) {
      const d = e8m0ToF32Half(quantize(GgmlType.MXFP4, src.subarray(b * 32, b * 32 + 32))[0]!);
      for (let j = 0; j < 32; j++) expect(Math.abs(values[b * 32 + j]! - src[b * 32 + j]!)).toBeLessThanOrEqual(2 * d + 1e-6); // steps are at most 4 · d (between 8d and 12d)
    }
  });

  /** finite values over many magnitudes, with exact code points and ties (ggml's quantizers are undefined for NaN, infinities and amax below 2^-125) */
  const hardValues = (): Float32Array => {
    let seed = 11;
    const x = Float32Array.from({ length: 32 * 64 }, (_, i) => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return (seed / 2 ** 32 - 0.5) * 10 ** (((i >> 5) % 11) - 6);
    });
    for (let i = 0; i < 32; i++) x[32 * 3 + i] = 0;
    for (let i = 0; i < 32; i++) x[32 * 4 + i] = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5, 6, -6][i % 16]! * (i < 16 ? 1 : -1);
    return x;
  };

  const c = ggmlCQuantizer();
  it.skipIf(!c.ok)(`matches llama.cpp's quantize_row_mxfp4_ref and dequantize_row_mxfp4 (node-llama-cpp's libggml-base) bit for bit${c.ok ? '' : ` (skipped: ${c.reason})`}`, () => {
    if (!c.ok) return;
    const x = hardValues();
    const ours = quantize(GgmlType.MXFP4, x);
    expect(Buffer.from(ours).equals(Buffer.from(c.value.quantize('mxfp4', x, ours.length)))).toBe(true);
    const all = new Uint8Array(17 * 256);
    for (let e = 0; e < 256; e++) all.set(block(e, ALL_CODES), 17 * e); // every E8M0 byte, every code
    expect([...dequantize(GgmlType.MXFP4, all, 32 * 256)]).toEqual([...c.value.dequantize('mxfp4', all, 32 * 256)]);
  });

  const py = pythonGguf();
  it.skipIf(!py.ok)(`matches gguf.quants' MXFP4 quantize and dequantize (python3 gguf 0.19.0) bit for bit${py.ok ? '' : ` (skipped: ${py.reason})`}`, () => {
    if (!py.ok) return;
    const x = hardValues();
    const script = [
      'import sys, numpy as np, gguf.quants as q',
      'x = np.frombuffer(sys.stdin.buffer.read(), dtype=np.float32).reshape(1, -1)',
      'sys.stdout.buffer.write(q.quantize(x, q.GGMLQuantizationType.MXFP4).tobytes())',
    ].join('\n');
    const theirs = py.value(script, new Uint8Array(x.buffer));
    expect(Buffer.from(quantize(GgmlType.MXFP4, x)).equals(Buffer.from(theirs))).toBe(true);
  });
});
