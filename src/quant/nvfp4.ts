import { GgmlType, ggmlByteSize } from '../formats/ggml-type.js';
import { registerCodec, type QuantCodec } from './codec.js';
import { MXFP4_KVALUES, nearestE2M1Code } from './mxfp4.js';

/**
 * NVFP4 (GGUF type 40), llama.cpp's layout: blocks of 64 values = four UE4M3 scale bytes (one per
 * sub-block of 16), then 32 bytes of E2M1 codes; byte 8·s + j holds value j of sub-block s in its
 * low nibble and value j + 8 in its high nibble. As ggml, the codes are read as twice their E2M1
 * value (MXFP4_KVALUES) and the scale halved: x = KVALUES[q] · ue4m3(d[s]) / 2, in f32.
 *
 * NVIDIA's format has a second, per-tensor FP32 scale. llama.cpp carries it as a separate F32
 * tensor of shape {1} beside the weight (`blk.N.attn_q.scale`, and `.input_scale` for the
 * activations' one, which its CPU graph does not use), multiplied into the matmul's output with
 * ggml_mul; without that tensor the scale is 1. The model layer reads it the same way
 * (WeightLoader.outputScale). Quantizing from floats (as here, and as ggml's quantize_row_nvfp4_ref) needs no second
 * scale: the UE4M3 sub-block scales cover the range of the weights directly.
 */

const BLOCK = 64;
const SUB = 16;
const BLOCK_BYTES = 36;

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/**
 * UE4M3 byte (unsigned, 4 exponent bits with bias 7, 3 mantissa bits) as ggml_ue4m3_to_fp32 reads
 * it, halved for the doubled E2M1 codes: 0 and 0x7F (E4M3's NaN) read as 0; exponent 0 is
 * subnormal (m · 2^-9); the top bit (a sign in E4M3) is ignored except in those two checks.
 */
export function ue4m3ToF32Half(x: number): number {
  if (x === 0 || x === 0x7f) return 0;
  const exp = (x >> 3) & 0xf;
  const man = x & 0x7;
  const raw = exp === 0 ? man * 2 ** -9 : (1 + man / 8) * 2 ** (exp - 7);
  return raw * 0.5;
}

/**
 * ggml_fp32_to_ue4m3: NaN, zero and negatives → 0; clamped to 448; below 2^-6, the subnormal
 * nearest by (int)(x · 512 + 0.5) capped at 7; else the mantissa rounded by its next bit (ties away
 * from zero), an exponent of 15 or more (so any x ≥ 256) → 0x7E (448).
 */
export function f32ToUe4m3(value: number): number {
  let x = Math.fround(value);
  if (!(x > 0)) return 0;
  if (x > 448) x = 448;
  F32[0] = x;
  const bits = U32[0]!;
  const fp32Exp = ((bits >>> 23) & 0xff) - 127;
  const fp32Man = (bits >>> 20) & 0x7;
  let exp = fp32Exp + 7;
  if (exp <= 0) {
    const man = Math.min(7, Math.trunc(Math.fround(x * 512 + 0.5)));
    return man < 1 ? 0 : man;
  }
  if (exp >= 15) return 0x7e;
  let man = fp32Man + ((bits >>> 19) & 1);
  if (man > 7) {
    man = 0;
    exp++;
    if (exp >= 15) return 0x7e;
  }
  return (exp << 3) | man;
}

/** the 256 UE4M3 bytes read (halved) as ggml reads them */
export const UE4M3_HALF_TABLE: Float32Array = Float32Array.from({ length: 256 }, (_, x) => ue4m3ToF32Half(x));

/**
 * As ggml's quantize_row_nvfp4_ref: per sub-block of 16, amax (NaN skipped), the scale byte
 * f32ToUe4m3(amax / 6) so that the largest code 6 covers amax, then every value's nearest code.
 */
function quantizeNvfp4(src: Float32Array): Uint8Array {
  if (src.length % BLOCK !== 0) throw new Error(`NVFP4 needs a multiple of ${BLOCK} values (got ${src.length})`);
  const out = new Uint8Array(ggmlByteSize(GgmlType.NVFP4, src.length));
  for (let b = 0; b < src.length / BLOCK; b++) {
    const o = b * BLOCK_BYTES;
    for (let s = 0; s < BLOCK / SUB; s++) {
      const x0 = b * BLOCK + s * SUB;
      let amax = 0;
      for (let j = 0; j < SUB; j++) {
        const a = Math.abs(src[x0 + j]!);
        if (amax < a) amax = a;
      }
      const ue = f32ToUe4m3(Math.fround(amax / 6));
      out[o + s] = ue;
      const d = UE4M3_HALF_TABLE[ue]!;
      for (let j = 0; j < SUB / 2; j++) {
        out[o + 4 + s * (SUB / 2) + j] = nearestE2M1Code(src[x0 + j]!, d) | (nearestE2M1Code(src[x0 + SUB / 2 + j]!, d) << 4);
      }
    }
  }
  return out;
}

export const nvfp4Codec: QuantCodec = {
  type: GgmlType.NVFP4,
  quantize: quantizeNvfp4,
  dequantize(src, start, n, dst, dstOffset = 0) {
    for (let b = start / BLOCK, i = 0; i < n; b++, i += BLOCK) {
      const o = b * BLOCK_BYTES;
      for (let s = 0; s < BLOCK / SUB; s++) {
        const d = UE4M3_HALF_TABLE[src[o + s]!]!;
        for (let j = 0; j < SUB / 2; j++) {
          const q = src[o + 4 + s * (SUB / 2) + j]!;
          dst[dstOffset + i + s * SUB + j] = MXFP4_KVALUES[q & 0x0f]! * d;
          dst[dstOffset + i + s * SUB + SUB / 2 + j] = MXFP4_KVALUES[q >> 4]! * d;
        }
      }
    }
  },
};

registerCodec(nvfp4Codec);
