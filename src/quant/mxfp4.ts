import { GgmlType, ggmlByteSize } from '../formats/ggml-type.js';
import { registerCodec, type QuantCodec } from './codec.js';

/**
 * MXFP4 (GGUF type 39), llama.cpp's layout: blocks of 32 values = one E8M0 scale byte e, then 16
 * bytes of E2M1 codes; byte j holds value j in its low nibble and value j + 16 in its high nibble.
 * As ggml, the codes are read as twice their E2M1 value (KVALUES) and the scale halved:
 * x = KVALUES[q] · 2^(e − 128), in f32.
 */

/** E2M1 codes doubled, so that they are integers: code q is sign (bit 3) and magnitude 0, 0.5, 1, 1.5, 2, 3, 4, 6 (× 2) */
export const MXFP4_KVALUES: readonly number[] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

const BLOCK = 32;
const BLOCK_BYTES = 17;

/** E8M0 byte e as 2^(e − 127) / 2, ggml's scale for the doubled codes (2^-128 and 2^-127 are f32 subnormals; e = 255 is 2^127, not NaN) */
export function e8m0ToF32Half(e: number): number {
  return 2 ** (e - 128);
}

/** the code whose value · d is nearest x (f32 errors); a tie goes to the lower code, so toward zero (ggml's best_index_mxfp4, which NVFP4 shares) */
export function nearestE2M1Code(x: number, d: number): number {
  let best = 0;
  let bestErr = Math.fround(Math.abs(Math.fround(MXFP4_KVALUES[0]! * d - x)));
  for (let q = 1; q < 16; q++) {
    const err = Math.fround(Math.abs(Math.fround(MXFP4_KVALUES[q]! * d - x)));
    if (err < bestErr) {
      best = q;
      bestErr = err;
    }
  }
  return best;
}

/**
 * As ggml's quantize_row_mxfp4_ref: e = floor(log2f(amax)) − 2 + 127 (0 for an all-zero block), so
 * that amax / 2^(e−127) lies in [4, 8) and the largest code 6 covers it; every value then takes its
 * nearest code. Where ggml's float → uint8 cast is undefined (amax below 2^-125 or infinite) e is
 * clamped to [0, 255]; NaN values are skipped when finding amax, as there.
 */
function quantizeMxfp4(src: Float32Array): Uint8Array {
  if (src.length % BLOCK !== 0) throw new Error(`MXFP4 needs a multiple of ${BLOCK} values (got ${src.length})`);
  const out = new Uint8Array(ggmlByteSize(GgmlType.MXFP4, src.length));
  for (let b = 0; b < src.length / BLOCK; b++) {
    let amax = 0;
    for (let j = 0; j < BLOCK; j++) {
      const a = Math.abs(src[b * BLOCK + j]!);
      if (amax < a) amax = a;
    }
    const e = amax > 0 ? Math.min(255, Math.max(0, Math.floor(Math.fround(Math.log2(amax))) - 2 + 127)) : 0;
    const d = e8m0ToF32Half(e);
    const o = b * BLOCK_BYTES;
    out[o] = e;
    for (let j = 0; j < BLOCK / 2; j++) {
      out[o + 1 + j] = nearestE2M1Code(src[b * BLOCK + j]!, d) | (nearestE2M1Code(src[b * BLOCK + BLOCK / 2 + j]!, d) << 4);
    }
  }
  return out;
}

export const mxfp4Codec: QuantCodec = {
  type: GgmlType.MXFP4,
  quantize: quantizeMxfp4,
  dequantize(src, start, n, dst, dstOffset = 0) {
    for (let b = start / BLOCK, i = 0; i < n; b++, i += BLOCK) {
      const o = b * BLOCK_BYTES;
      const d = e8m0ToF32Half(src[o]!);
      for (let j = 0; j < BLOCK / 2; j++) {
        const q = src[o + 1 + j]!;
        dst[dstOffset + i + j] = MXFP4_KVALUES[q & 0x0f]! * d;
        dst[dstOffset + i + j + BLOCK / 2] = MXFP4_KVALUES[q >> 4]! * d;
      }
    }
  },
};

registerCodec(mxfp4Codec);
