import { GgmlType, ggmlByteSize, ggmlTypeName } from '../formats/ggml-type.js';
import { f16ToF32, f32ToBf16, f32ToF16, bf16ToF32 } from './float16.js';

/**
 * Encodes and decodes one ggml tensor type. `quantize` takes whole rows (length a multiple of the
 * block size); `dequantize` decodes `n` elements starting at element `start` (block aligned).
 */
export interface QuantCodec {
  readonly type: GgmlType;
  quantize(src: Float32Array): Uint8Array;
  /** a cheaper, somewhat less accurate quantize for bulk synthetic weights (the k-quants' 'fast' KQuantEffort); absent: quantize is cheap */
  quantizeFast?(src: Float32Array): Uint8Array;
  dequantize(src: Uint8Array, start: number, n: number, dst: Float32Array, dstOffset?: number): void;
}

const codecs = new Map<GgmlType, QuantCodec>();

export function registerCodec(codec: QuantCodec): void {
  codecs.set(codec.type, codec);
}

export function codecFor(type: GgmlType): QuantCodec | undefined {
  return codecs.get(type);
}

export function quantize(type: GgmlType, src: Float32Array): Uint8Array {
  const codec = codecs.get(type);
  if (!codec) throw new Error(`no codec for ${ggmlTypeName(type)}`);
  return codec.quantize(src);
}

export function dequantize(type: GgmlType, src: Uint8Array, numElements: number): Float32Array {
  const codec = codecs.get(type);
  if (!codec) throw new Error(`no codec for ${ggmlTypeName(type)}`);
  const out = new Float32Array(numElements);
  codec.dequantize(src, 0, numElements, out);
  return out;
}

function view(src: Uint8Array): DataView {
  return new DataView(src.buffer, src.byteOffset, src.byteLength);
}

registerCodec({
  type: GgmlType.F32,
  quantize: (src) => new Uint8Array(src.slice().buffer),
  dequantize(src, start, n, dst, dstOffset = 0) {
    const v = view(src);
    for (let i = 0; i < n; i++) dst[dstOffset + i] = v.getFloat32((start + i) * 4, true);
  },
});

registerCodec({
  type: GgmlType.F16,
  quantize(src) {
    const out = new Uint8Array(src.length * 2);
    const v = view(out);
    for (let i = 0; i < src.length; i++) v.setUint16(i * 2, f32ToF16(src[i]!), true);
    return out;
  },
  dequantize(src, start, n, dst, dstOffset = 0) {
    const v = view(src);
    for (let i = 0; i < n; i++) dst[dstOffset + i] = f16ToF32(v.getUint16((start + i) * 2, true));
  },
});

registerCodec({
  type: GgmlType.BF16,
  quantize(src) {
    const out = new Uint8Array(src.length * 2);
    const v = view(out);
    for (let i = 0; i < src.length; i++) v.setUint16(i * 2, f32ToBf16(src[i]!), true);
    return out;
  },
  dequantize(src, start, n, dst, dstOffset = 0) {
    const v = view(src);
    for (let i = 0; i < n; i++) dst[dstOffset + i] = bf16ToF32(v.getUint16((start + i) * 2, true));
  },
});

// Q8_0: blocks of 32 = f16 scale d, then 32 int8 (x ≈ d * q).
registerCodec({
  type: GgmlType.Q8_0,
  quantize(src) {
    const numBlocks = src.length / 32;
    const out = new Uint8Array(ggmlByteSize(GgmlType.Q8_0, src.length));
    const v = view(out);
    for (let b = 0; b < numBlocks; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[b * 32 + j]!));
      // f32 arithmetic throughout, as quantize_row_q8_0_ref: d and 1/d are floats
      const d = Math.fround(amax / 127);
      const id = d ? Math.fround(1 / d) : 0;
      v.setUint16(b * 34, f32ToF16(d), true);
      for (let j = 0; j < 32; j++) v.setInt8(b * 34 + 2 + j, roundHalfAway(Math.fround(src[b * 32 + j]! * id)));
    }
    return out;
  },
  dequantize(src, start, n, dst, dstOffset = 0) {
    const v = view(src);
    for (let b = start / 32, i = 0; i < n; b++) {
      const d = f16ToF32(v.getUint16(b * 34, true));
      for (let j = 0; j < 32; j++, i++) dst[dstOffset + i] = d * v.getInt8(b * 34 + 2 + j);
    }
  },
});

// Q4_0: blocks of 32 = f16 scale d, then 16 bytes; low nibbles are elements 0..15, high 16..31 (x ≈ d * (q - 8)).
registerCodec({
  type: GgmlType.Q4_0,
  quantize(src) {
    const numBlocks = src.length / 32;
    const out = new Uint8Array(ggmlByteSize(GgmlType.Q4_0, src.length));
    const v = view(out);
    for (let b = 0; b < numBlocks; b++) {
      let amax = 0;
      let max = 0;
      for (let j = 0; j < 32; j++) {
        const x = src[b * 32 + j]!;
        if (Math.abs(x) > amax) {
          amax = Math.abs(x);
          max = x;
        }
      }
      const d = Math.fround(max / -8);
      const id = d ? Math.fround(1 / d) : 0;
      v.setUint16(b * 18, f32ToF16(d), true);
      for (let j = 0; j < 16; j++) {
        // (int8_t)(x0 + 8.5f) in quantize_row_q4_0_ref: the sum is rounded to f32 before truncation
        const x0 = Math.min(15, Math.trunc(Math.fround(Math.fround(src[b * 32 + j]! * id) + 8.5)));
        const x1 = Math.min(15, Math.trunc(Math.fround(Math.fround(src[b * 32 + 16 + j]! * id) + 8.5)));
        out[b * 18 + 2 + j] = x0 | (x1 << 4);
      }
    }
    return out;
  },
  dequantize(src, start, n, dst, dstOffset = 0) {
    const v = view(src);
    for (let b = start / 32, i = 0; i < n; b++, i += 32) {
      const d = f16ToF32(v.getUint16(b * 18, true));
      for (let j = 0; j < 16; j++) {
        const q = src[b * 18 + 2 + j]!;
        dst[dstOffset + i + j] = d * ((q & 0x0f) - 8);
        dst[dstOffset + i + j + 16] = d * ((q >> 4) - 8);
      }
    }
  },
});

/** C roundf: halves away from zero. */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}
