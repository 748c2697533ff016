import { GgmlType, ggmlByteSize } from '../formats/ggml-type.js';
import { registerCodec, type QuantCodec } from './codec.js';

/**
 * FP8_E4M3 (Peregrine's own GGUF type id, see ggml-type.ts: llama.cpp has no FP8 weight type):
 * OCP MX's MXFP8 E4M3 layout, blocks of 32 values = one E8M0 scale byte e, then 32 OCP E4M3 bytes;
 * x = e4m3(q) · 2^(e − 127).
 *
 * Why this block and scale: decode reads weights from memory, so bytes per weight set the speed:
 * 33 bytes per 32 values (8.25 bits) is less than Q8_0's 34 (an f16 scale) or an f32 scale's 36.
 * A power-of-two scale costs E4M3 nothing in precision (its relative step is 2^-3 in every binade;
 * the scale only moves which binade the block's largest value lands in) and makes scaling exact.
 * The scale is the smallest with amax ≤ 448 · 2^(e − 127), so no value clips (OCP's example rule,
 * floor(log2 amax) − 8, would clip amax up to 7%); blocks of 32 keep an outlier's reach short.
 *
 * OCP E4M3: sign, 4 exponent bits (bias 7), 3 mantissa bits; exponent 0 is subnormal (m/8 · 2^-6);
 * S.1111.111 is NaN and there are no infinities, so the largest value is 448 (S.1111.110).
 * Encoding rounds to nearest, ties to even, and saturates at ±448 (infinities too); NaN encodes
 * as NaN (0x7F) and is skipped when finding amax. E8M0 0xFF is NaN (a whole block of NaN).
 */

const BLOCK = 32;
const BLOCK_BYTES = 33;

/** nearest integer, ties to even (x ≥ 0) */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** OCP E4M3 byte → value (NaN for S.1111.111) */
export function e4m3ToF32(q: number): number {
  const sign = q & 0x80 ? -1 : 1;
  const e = (q >> 3) & 0xf;
  const m = q & 7;
  if (e === 15 && m === 7) return NaN;
  return sign * (e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7));
}

/** value → OCP E4M3 byte: nearest, ties to even, saturating at ±448; NaN → 0x7F (with the sign bit of NaN's sign, 0) */
export function f32ToE4m3(value: number): number {
  if (Number.isNaN(value)) return 0x7f;
  const sign = value < 0 || Object.is(value, -0) ? 0x80 : 0;
  const a = Math.abs(value);
  if (a >= 448) return sign | 0x7e;
  if (a < 2 ** -6) return sign | roundHalfEven(a * 2 ** 9); // subnormal m/8 · 2^-6; m = 8 is the smallest normal, code 0x08
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--; // log2 of a value just below a power of two may round up
  if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven((a / 2 ** e - 1) * 8);
  if (m === 8) {
    m = 0;
    e++;
  }
  const code = ((e + 7) << 3) | m;
  return sign | Math.min(code, 0x7e);
}

/** E8M0 byte → 2^(e − 127); 0xFF is NaN */
export function e8m0ToF32(e: number): number {
  return e === 0xff ? NaN : 2 ** (e - 127);
}

/** the smallest E8M0 scale e (0..254) with amax ≤ 448 · 2^(e − 127) */
export function fp8BlockScale(amax: number): number {
  if (!(amax > 0)) return 0;
  if (amax === Infinity) return 254;
  let e = Math.ceil(Math.log2(amax / 448));
  if (448 * 2 ** e < amax) e++;
  if (448 * 2 ** (e - 1) >= amax) e--;
  return Math.max(0, Math.min(254, e + 127));
}

function quantizeFp8(src: Float32Array): Uint8Array {
  if (src.length % BLOCK !== 0) throw new Error(`FP8_E4M3 needs a multiple of ${BLOCK} values (got ${src.length})`);
  const out = new Uint8Array(ggmlByteSize(GgmlType.FP8_E4M3, src.length));
  for (let b = 0; b < src.length / BLOCK; b++) {
    let amax = 0;
    for (let j = 0; j < BLOCK; j++) {
      const a = Math.abs(src[b * BLOCK + j]!);
      if (amax < a) amax = a;
    }
    const e = fp8BlockScale(amax);
    const inv = 2 ** (127 - e); // exact: a power of two
    const o = b * BLOCK_BYTES;
    out[o] = e;
    for (let j = 0; j < BLOCK; j++) out[o + 1 + j] = f32ToE4m3(src[b * BLOCK + j]! * inv);
  }
  return out;
}

/** the 256 E4M3 bytes' values */
export const E4M3_TABLE: Float32Array = Float32Array.from({ length: 256 }, (_, q) => e4m3ToF32(q));

export const fp8Codec: QuantCodec = {
  type: GgmlType.FP8_E4M3,
  quantize: quantizeFp8,
  dequantize(src, start, n, dst, dstOffset = 0) {
    for (let b = start / BLOCK, i = 0; i < n; b++, i += BLOCK) {
      const o = b * BLOCK_BYTES;
      const d = e8m0ToF32(src[o]!);
      for (let j = 0; j < BLOCK; j++) dst[dstOffset + i + j] = E4M3_TABLE[src[o + 1 + j]!]! * d;
    }
  },
};

registerCodec(fp8Codec);
