import { GgmlType, ggmlByteSize } from '../formats/ggml-type.js';
import { registerCodec, type QuantCodec } from './codec.js';
import { f16ToF32, f32ToF16 } from './float16.js';

/**
 * Q5_0 (GGUF type 6): blocks of 32 = f16 scale d, u32 qh (bit j is the 5th bit of value j), then 16
 * bytes; low nibbles are values 0..15, high nibbles 16..31; x = d · (q − 16). Peregrine writes it
 * only where llama-quantize does: as the fallback of a Q4_K tensor whose rows are not a multiple of
 * 256. No native kernel: the reference backend runs it.
 */
const BLOCK = 32;
const BLOCK_BYTES = 22;
const fr = Math.fround;

/** As ggml's quantize_row_q5_0_ref, in f32 arithmetic: d = max / −16, q = min(31, (int8)(x / d + 16.5)). */
function quantizeQ50(src: Float32Array): Uint8Array {
  if (src.length % BLOCK !== 0) throw new Error(`Q5_0 needs a multiple of ${BLOCK} values (got ${src.length})`);
  const out = new Uint8Array(ggmlByteSize(GgmlType.Q5_0, src.length));
  const v = new DataView(out.buffer);
  for (let b = 0; b < src.length / BLOCK; b++) {
    const x = b * BLOCK;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < BLOCK; j++) {
      const a = Math.abs(src[x + j]!);
      if (amax < a) {
        amax = a;
        max = src[x + j]!;
      }
    }
    const d = fr(max / -16);
    const id = d ? fr(1 / d) : 0;
    const o = b * BLOCK_BYTES;
    v.setUint16(o, f32ToF16(d), true);
    let qh = 0;
    for (let j = 0; j < BLOCK / 2; j++) {
      const q0 = Math.min(31, Math.trunc(fr(fr(src[x + j]! * id) + 16.5)));
      const q1 = Math.min(31, Math.trunc(fr(fr(src[x + BLOCK / 2 + j]! * id) + 16.5)));
      out[o + 6 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 >> 4) & 1) << j;
      qh |= ((q1 >> 4) & 1) << (j + BLOCK / 2);
    }
    v.setUint32(o + 2, qh >>> 0, true);
  }
  return out;
}

export const q50Codec: QuantCodec = {
  type: GgmlType.Q5_0,
  quantize: quantizeQ50,
  dequantize(src, start, n, dst, dstOffset = 0) {
    const v = new DataView(src.buffer, src.byteOffset, src.byteLength);
    for (let b = start / BLOCK, i = 0; i < n; b++, i += BLOCK) {
      const o = b * BLOCK_BYTES;
      const d = f16ToF32(v.getUint16(o, true));
      const qh = v.getUint32(o + 2, true);
      for (let j = 0; j < BLOCK / 2; j++) {
        const q = src[o + 6 + j]!;
        dst[dstOffset + i + j] = d * (((q & 0x0f) | (((qh >>> j) & 1) << 4)) - 16);
        dst[dstOffset + i + j + BLOCK / 2] = d * (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16);
      }
    }
  },
};

registerCodec(q50Codec);
