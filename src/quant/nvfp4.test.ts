import { describe, expect, it } from 'vitest';
import { GgmlType } from '../formats/ggml-type.js';
import { ggmlCQuantizer, pythonGguf } from '../testing/ggml-quant-reference.js';
import { codecFor, dequantize, quantize } from './codec.js';
import { MXFP4_KVALUES } from './mxfp4.js';
import { UE4M3_HALF_TABLE, f32ToUe4m3, ue4m3ToF32Half } from './nvfp4.js';

/** NVIDIA's E4M3 read unsigned (bias 7, 3 mantissa bits, exponent 0 subnormal), written out per field */
function ue4m3Definition(byte: number): number {
  const e = (byte >> 3) & 0xf;
  const m = byte & 7;
  return e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7);
}

/** one block: four scale bytes, then per sub-block s code[16s + j] low and code[16s + j + 8] high */
function block(scales: readonly number[], codes: readonly number[]): Uint8Array {
  const out = new Uint8Array(36);
  out.set(scales, 0);
  for (let s = 0; s < 4; s++) for (let j = 0; j < 8; j++) out[4 + 8 * s + j] = codes[16 * s + j]! | (codes[16 * s + j + 8]! << 4);
  return out;
}

/** every code in every nibble position: sub-blocks 0, 2 count up, 1, 3 count down */
const ALL_CODES = Array.from({ length: 64 }, (_, i) => ((i >> 4) % 2 === 0 ? i & 15 : 15 - (i & 15)));

function seeded(n: number, seed: number, scale: (i: number) => number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, (_, i) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * scale(i);
  });
}

/** values that exercise every path: wide ranges per sub-block, exact code points, ties, zeros, NaN, infinities, subnormal scales */
function hardValues(): Float32Array {
  const x = seeded(64 * 64, 7, (i) => 10 ** ((((i >> 4) % 13) - 8) * 0.9));
  for (let i = 0; i < 16; i++) x[16 * 3 + i] = 0; // an all-zero sub-block
  x[16 * 5] = NaN;
  x[16 * 6 + 3] = Infinity;
  x[16 * 7 + 1] = -Infinity;
  for (let i = 0; i < 16; i++) x[16 * 8 + i] = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5, 6, -6][i]!; // ties between codes
  for (let i = 0; i < 16; i++) x[16 * 9 + i] = (i - 8) * 1e-4; // a subnormal scale
  for (let i = 0; i < 16; i++) x[16 * 10 + i] = (i - 8) * 500; // amax / 6 past 448: saturated scale
  return x;
}

describe('NVFP4 codec', () => {
  it('is registered for GGUF type 40, 36 bytes per 64 values', () => {
    expect(GgmlType.NVFP4).toBe(40);
    expect(codecFor(GgmlType.NVFP4)).toBeDefined();
    expect(quantize(GgmlType.NVFP4, new Float32Array(128)).length).toBe(72);
    expect(() => quantize(GgmlType.NVFP4, new Float32Array(32))).toThrow(/multiple of 64/);
  });

  it('reads every UE4M3 byte as its definition, halved; 0x7F (NaN) as 0 and the top bit ignored, as ggml', () => {
    for (let x = 0; x < 256; x++) {
      const expected = x === 0x7f ? 0 : ue4m3Definition(x) / 2;
      expect(ue4m3ToF32Half(x), `0x${x.toString(16)}`).toBe(expected);
      expect(UE4M3_HALF_TABLE[x]).toBe(expected);
    }
    expect(ue4m3ToF32Half(0x01)).toBe(2 ** -10); // smallest subnormal 2^-9
    expect(ue4m3ToF32Half(0x08)).toBe(2 ** -7); // smallest normal 2^-6
    expect(ue4m3ToF32Half(0x38)).toBe(0.5); // 1.0
    expect(ue4m3ToF32Half(0x7e)).toBe(224); // 448, the largest
    expect(ue4m3ToF32Half(0xff)).toBe(240); // the sign bit is not a sign here
  });

  it('encodes every UE4M3 value to its own byte, rounds ties away from zero, saturates at 448 and sends NaN and negatives to 0', () => {
    for (let x = 1; x < 0x7f; x++) {
      // ggml's quirk: every value of exponent 15 (≥ 256) encodes as 0x7E
      const expected = x >= 0x78 ? 0x7e : x;
      expect(f32ToUe4m3(ue4m3Definition(x)), `0x${x.toString(16)}`).toBe(expected);
    }
    expect(f32ToUe4m3(1.0625)).toBe(0x39); // halfway between 1 and 1.125: up
    expect(f32ToUe4m3(1.0624)).toBe(0x38);
    expect(f32ToUe4m3(1.1875)).toBe(0x3a); // halfway between 1.125 and 1.25: up (not to even)
    expect(f32ToUe4m3(1.96875)).toBe(0x40); // carries into the exponent: 2
    expect(f32ToUe4m3(1.5 * 2 ** -9)).toBe(0x02); // subnormal tie: (int)(x·512 + 0.5)
    expect(f32ToUe4m3(0.49 * 2 ** -9)).toBe(0);
    expect(f32ToUe4m3(2 ** -6 - 2 ** -12)).toBe(0x07); // just below 2^-6: the subnormal count caps at 7
    for (const big of [449, 1000, 3.4e38, Infinity]) expect(f32ToUe4m3(big)).toBe(0x7e);
    for (const none of [0, -0, -1, -Infinity, NaN]) expect(f32ToUe4m3(none)).toBe(0);
  });

  it('decodes every E2M1 code from both nibbles of each sub-block, scaled by its own UE4M3 byte', () => {
    const scales = [0x38, 0x40, 0x30, 0x01];
    const values = dequantize(GgmlType.NVFP4, block(scales, ALL_CODES), 64);
    for (let i = 0; i < 64; i++) expect(values[i], `[${i}]`).toBe(MXFP4_KVALUES[ALL_CODES[i]!]! * ue4m3ToF32Half(scales[i >> 4]!));
    expect([...values.subarray(0, 16)]).toEqual([0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, -0.5, -1, -1.5, -2, -3, -4, -6]);
    const out = new Float32Array(80);
    codecFor(GgmlType.NVFP4)!.dequantize(new Uint8Array([...block([0, 0, 0, 0], ALL_CODES), ...block(scales, ALL_CODES)]), 64, 64, out, 16);
    expect([...out.subarray(16)]).toEqual([...values]);
  });

  it('reproduces every representable block exactly and keeps each value within half a step', () => {
    const exact = dequantize(GgmlType.NVFP4, block([0x38, 0x40, 0x30, 0x50], ALL_CODES), 64);
    // sub-blocks whose amax is 6·scale quantize back to the same values
    expect([...dequantize(GgmlType.NVFP4, quantize(GgmlType.NVFP4, exact), 64)]).toEqual([...exact]);
    const x = seeded(64 * 32, 3, () => 4);
    const y = dequantize(GgmlType.NVFP4, quantize(GgmlType.NVFP4, x), x.length);
    const bytes = quantize(GgmlType.NVFP4, x);
    for (let i = 0; i < x.length; i++) {
      const d = ue4m3ToF32Half(bytes[36 * (i >> 6) + ((i >> 4) & 3)]!);
      expect(Math.abs(y[i]! - x[i]!), `[${i}]`).toBeLessThanOrEqual(2 * d + 1e-7); // the widest gap between codes is 2 (4 → 6)·d·… halved
    }
  });

  const c = ggmlCQuantizer();
  it.skipIf(!c.ok)(`matches llama.cpp's quantize_row_nvfp4_ref and dequantize_row_nvfp4 (node-llama-cpp's libggml-base) bit for bit${c.ok ? '' : ` (skipped: ${c.reason})`}`, () => {
    if (!c.ok) return;
    const x = hardValues();
    const ours = quantize(GgmlType.NVFP4, x);
    expect(Buffer.from(ours).equals(Buffer.from(c.value.quantize('nvfp4', x, ours.length)))).toBe(true);
    const theirs = c.value.dequantize('nvfp4', ours, x.length);
    expect([...dequantize(GgmlType.NVFP4, ours, x.length)]).toEqual([...theirs]);
    // every scale byte, every code
    const all = new Uint8Array(36 * 64);
    for (let b = 0; b < 64; b++) all.set(block([4 * b, 4 * b + 1, 4 * b + 2, 4 * b + 3], ALL_CODES), 36 * b);
    expect([...dequantize(GgmlType.NVFP4, all, 64 * 64)]).toEqual([...c.value.dequantize('nvfp4', all, 64 * 64)]);
  });

  const py = pythonGguf();
  it.skipIf(!py.ok)(`matches gguf.quants (python3 gguf 0.19.0): NVFP4 dequantize and fp32_to_ue4m3${py.ok ? '' : ` (skipped: ${py.reason})`}`, () => {
    if (!py.ok) return;
    const bytes = quantize(GgmlType.NVFP4, hardValues());
    const script = [
      'import sys, numpy as np, gguf.quants as q',
      'b = np.frombuffer(sys.stdin.buffer.read(), dtype=np.uint8)',
      'n = len(b) // 36 * 64',
      'sys.stdout.buffer.write(q.dequantize(b, q.GGMLQuantizationType.NVFP4).astype(np.float32).tobytes())',
    ].join('\n');
    const theirs = new Float32Array(py.value(script, bytes).buffer);
    expect([...dequantize(GgmlType.NVFP4, bytes, theirs.length)]).toEqual([...theirs]);
    const probes = Float32Array.from([...Array.from({ length: 256 }, (_, i) => ue4m3Definition(i)), ...seeded(2000, 9, (i) => 10 ** ((i % 12) - 8)).map(Math.abs), 1.0625, 1.1875, 500, 0]);
    const ueScript = [
      'import sys, numpy as np, gguf.quants as q',
      'x = np.frombuffer(sys.stdin.buffer.read(), dtype=np.float32)',
      'sys.stdout.buffer.write(q.NVFP4.fp32_to_ue4m3(x).astype(np.uint8).tobytes())',
    ].join('\n');
    const ue = py.value(ueScript, new Uint8Array(probes.buffer));
    for (let i = 0; i < probes.length; i++) expect(f32ToUe4m3(probes[i]!), `${probes[i]}`).toBe(ue[i]);
  });
});
