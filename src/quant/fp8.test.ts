import { describe, expect, it } from 'vitest';
import { GGML_TYPE_TRAITS, GgmlType, PEREGRINE_TYPE_ID_BASE } from '../formats/ggml-type.js';
import { pythonGguf } from '../testing/ggml-quant-reference.js';
import { codecFor, dequantize, quantize } from './codec.js';
import { E4M3_TABLE, e4m3ToF32, e8m0ToF32, f32ToE4m3, fp8BlockScale } from './fp8.js';

/** OCP E4M3 written out per field (OCP 8-bit floating point spec, E4M3: bias 7, no infinities, S.1111.111 NaN) */
function ocpE4m3(q: number): number {
  const s = q >> 7;
  const e = (q >> 3) & 15;
  const m = q & 7;
  if (e === 15 && m === 7) return NaN;
  const magnitude = e === 0 ? 2 ** (1 - 7) * (m / 8) : 2 ** (e - 7) * (1 + m / 8);
  return s ? -magnitude : magnitude;
}

function block(e: number, codes: readonly number[]): Uint8Array {
  return Uint8Array.from([e, ...codes]);
}

describe('FP8_E4M3 codec (OCP MXFP8 E4M3 blocks)', () => {
  it(`is registered under Peregrine's own id ${GgmlType.FP8_E4M3}, 33 bytes per 32 values`, () => {
    expect(codecFor(GgmlType.FP8_E4M3)).toBeDefined();
    expect(quantize(GgmlType.FP8_E4M3, new Float32Array(64)).length).toBe(66);
    expect(() => quantize(GgmlType.FP8_E4M3, new Float32Array(48))).toThrow(/multiple of 32/);
    expect(GgmlType.FP8_E4M3).toBeGreaterThanOrEqual(PEREGRINE_TYPE_ID_BASE);
  });

  it('reads every E4M3 byte as OCP defines it: 448 the largest, subnormals, ±0, NaN only at S.1111.111', () => {
    for (let q = 0; q < 256; q++) {
      expect(Object.is(e4m3ToF32(q), ocpE4m3(q)), `0x${q.toString(16)}`).toBe(true);
      expect(Object.is(E4M3_TABLE[q], ocpE4m3(q)) || (q === 0x80 && E4M3_TABLE[q] === 0)).toBe(true);
    }
    expect(e4m3ToF32(0x7e)).toBe(448);
    expect(e4m3ToF32(0xfe)).toBe(-448);
    expect(e4m3ToF32(0x01)).toBe(2 ** -9);
    expect(e4m3ToF32(0x08)).toBe(2 ** -6);
    expect(e4m3ToF32(0x78)).toBe(256); // exponent 15 holds finite values (no infinities)
    expect([...E4M3_TABLE].filter(Number.isNaN).length).toBe(2);
  });

  it('encodes every E4M3 value to its own byte', () => {
    for (let q = 0; q < 256; q++) {
      if (q === 0x7f || q === 0xff) continue;
      expect(f32ToE4m3(ocpE4m3(q)), `0x${q.toString(16)}`).toBe(q);
    }
  });

  it('rounds to nearest with ties to even, saturates at ±448 (infinities too), and keeps NaN', () => {
    expect(f32ToE4m3(1.0625)).toBe(0x38); // halfway between 1 (mantissa 0) and 1.125: to the even 1
    expect(f32ToE4m3(1.1875)).toBe(0x3a); // halfway between 1.125 and 1.25 (mantissa 2): up to the even
    expect(f32ToE4m3(1.06251)).toBe(0x39);
    expect(f32ToE4m3(1.9375)).toBe(0x40); // halfway between 1.875 and 2: to 2 (carries into the exponent)
    expect(f32ToE4m3(-3 * 2 ** -10)).toBe(0x82); // subnormal tie 1.5 · 2^-9: to the even 2 · 2^-9
    expect(f32ToE4m3(2 ** -10)).toBe(0x00); // tie between 0 and 2^-9: to 0
    expect(f32ToE4m3(15 * 2 ** -10)).toBe(0x08); // tie between 7 · 2^-9 and 2^-6: to the even 2^-6
    expect(f32ToE4m3(432)).toBe(0x7e); // between 416 and 448: nearest 448
    for (const big of [449, 464, 480, 1e6, Infinity]) expect(f32ToE4m3(big)).toBe(0x7e);
    for (const big of [-449, -Infinity]) expect(f32ToE4m3(big)).toBe(0xfe);
    expect(f32ToE4m3(NaN)).toBe(0x7f);
    expect(f32ToE4m3(-0)).toBe(0x80);
  });

  it('reads E8M0 as 2^(e-127), 0xFF as NaN, and picks the smallest scale that fits amax under 448', () => {
    for (let e = 0; e < 255; e++) expect(e8m0ToF32(e)).toBe(2 ** (e - 127));
    expect(e8m0ToF32(255)).toBeNaN();
    expect(fp8BlockScale(0)).toBe(0);
    expect(fp8BlockScale(448)).toBe(127);
    expect(fp8BlockScale(449)).toBe(128);
    expect(fp8BlockScale(224)).toBe(126);
    expect(fp8BlockScale(224.0001)).toBe(127);
    expect(fp8BlockScale(1)).toBe(127 - 8); // 1 / 2^-8 = 256 ≤ 448
    expect(fp8BlockScale(1e-45)).toBe(0); // clamped
    expect(fp8BlockScale(3.4e38)).toBe(127 + 120);
    expect(fp8BlockScale(Infinity)).toBe(254);
  });

  it('decodes a block as e4m3 · 2^(e-127), NaN codes and a NaN scale included', () => {
    const codes = Array.from({ length: 32 }, (_, j) => [0x00, 0x01, 0x08, 0x38, 0x7e, 0x7f, 0x80, 0xb8][j % 8]! + (j >= 16 ? 0 : 0));
    const values = dequantize(GgmlType.FP8_E4M3, block(130, codes), 32);
    for (let j = 0; j < 32; j++) expect(Object.is(values[j], Math.fround(ocpE4m3(codes[j]!) * 8)) || (Number.isNaN(values[j]!) && codes[j] === 0x7f), `[${j}]`).toBe(true);
    expect([...dequantize(GgmlType.FP8_E4M3, block(255, codes), 32)].every(Number.isNaN)).toBe(true);
  });

  it('round-trips representable blocks exactly, clips nothing, and stays within half an E4M3 step', () => {
    const exact = Float32Array.from({ length: 32 }, (_, j) => ocpE4m3([0x7e, 0x01, 0x08, 0x38, 0xc5, 0x33, 0x5a, 0x90][j % 8]!) * 2 ** -20);
    expect([...dequantize(GgmlType.FP8_E4M3, quantize(GgmlType.FP8_E4M3, exact), 32)]).toEqual([...exact]);
    let seed = 5;
    const x = Float32Array.from({ length: 32 * 200 }, (_, i) => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return (seed / 2 ** 32 - 0.5) * 10 ** (((i >> 5) % 9) - 4);
    });
    const bytes = quantize(GgmlType.FP8_E4M3, x);
    const y = dequantize(GgmlType.FP8_E4M3, bytes, x.length);
    for (let i = 0; i < x.length; i++) {
      const d = e8m0ToF32(bytes[33 * (i >> 5)]!);
      const a = Math.abs(x[i]!) / d; // in E4M3 units
      const halfStep = a < 2 ** -6 ? 2 ** -10 : 2 ** (Math.floor(Math.log2(a)) - 4);
      expect(Math.abs(y[i]! - x[i]!) / d, `[${i}]`).toBeLessThanOrEqual(halfStep * (1 + 1e-9));
    }
    // the block's largest value is never clipped: it lies within 448 · scale
    const withNaN = Float32Array.from({ length: 32 }, (_, j) => (j === 3 ? NaN : j === 4 ? 1e3 : j));
    const q = quantize(GgmlType.FP8_E4M3, withNaN);
    expect(q[0]).toBe(fp8BlockScale(1e3));
    expect(q[1 + 3]).toBe(0x7f);
    expect(dequantize(GgmlType.FP8_E4M3, q, 32)[4]).toBe(1024); // nearest E4M3 value of 1e3 / 4 = 250 is 256
  });

  it("is Peregrine's own type, and every Peregrine type's id is at or above PEREGRINE_TYPE_ID_BASE (the GGUF writer refuses others)", () => {
    for (const t of GGML_TYPE_TRAITS) expect(t.type >= PEREGRINE_TYPE_ID_BASE, t.name).toBe(!t.isLlamaCppType);
    expect(GGML_TYPE_TRAITS.find((t) => t.type === GgmlType.FP8_E4M3)?.isLlamaCppType).toBe(false);
  });

  const py = pythonGguf();
  it.skipIf(!py.ok)(`takes an id no llama.cpp type has (gguf 0.19.0's GGMLQuantizationType)${py.ok ? '' : ` (skipped: ${py.reason})`}`, () => {
    if (!py.ok) return;
    const ids = new TextDecoder().decode(py.value('import gguf; print(",".join(str(int(t)) for t in gguf.GGMLQuantizationType))', new Uint8Array())).trim().split(',').map(Number);
    expect(ids).toContain(40);
    expect(ids).not.toContain(GgmlType.FP8_E4M3);
    expect(Math.max(...ids)).toBeLessThan(PEREGRINE_TYPE_ID_BASE);
  });
});
