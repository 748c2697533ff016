import { e4m3ToF32, f32ToE4m3 } from '../../quant/fp8.js';
import { bf16ToF32, F16_TO_F32, f32ToBf16, f32ToF16 } from '../../quant/float16.js';
import type { HostKvLayer } from '../host-kv-cache.js';
import { Q8_0_BLOCK, Q8_0_BLOCK_BYTES } from '../kv-cache-type.js';
import { quantizeQ8_0 } from './activation-quant.js';

const E4M3_TO_F32 = Float32Array.from({ length: 256 }, (_, q) => e4m3ToF32(q));

/**
 * Writes values src[srcOffset, srcOffset + n) into `cache` (a layer's k or v, in `dtype`) from
 * value index `first`: f16/bf16 round to nearest even, fp8 as f32ToE4m3 (saturating), q8_0 as
 * llama.cpp's x86 quantize_row_q8_0 (first and n whole blocks of 32).
 */
export function encodeKv(layer: HostKvLayer, cache: HostKvLayer['k'], first: number, src: Float32Array, srcOffset: number, n: number): void {
  switch (layer.dtype) {
    case 'f32':
      for (let i = 0; i < n; i++) cache[first + i] = src[srcOffset + i]!;
      return;
    case 'f16':
      for (let i = 0; i < n; i++) cache[first + i] = f32ToF16(src[srcOffset + i]!);
      return;
    case 'bf16':
      for (let i = 0; i < n; i++) cache[first + i] = f32ToBf16(src[srcOffset + i]!);
      return;
    case 'fp8':
      for (let i = 0; i < n; i++) cache[first + i] = f32ToE4m3(src[srcOffset + i]!);
      return;
    case 'q8_0': {
      const numBlocks = n / Q8_0_BLOCK;
      const q = { qs: new Int8Array(n), d: new Float32Array(numBlocks) };
      quantizeQ8_0(src, srcOffset, n, q);
      for (let b = 0; b < numBlocks; b++) {
        const base = (first / Q8_0_BLOCK + b) * Q8_0_BLOCK_BYTES;
        const d = f32ToF16(q.d[b]!);
        cache[base] = d & 0xff;
        cache[base + 1] = d >> 8;
        for (let j = 0; j < Q8_0_BLOCK; j++) cache[base + 2 + j] = q.qs[b * Q8_0_BLOCK + j]! & 0xff;
      }
      return;
    }
  }
}

/** value i of `cache` (a layer's k or v, in `dtype`) as f32 */
export function kvDecoder(dtype: HostKvLayer['dtype'], cache: HostKvLayer['k']): (i: number) => number {
  switch (dtype) {
    case 'f32':
      return (i) => cache[i]!;
    case 'f16':
      return (i) => F16_TO_F32[cache[i]!]!;
    case 'bf16':
      return (i) => bf16ToF32(cache[i]!);
    case 'fp8':
      return (i) => E4M3_TO_F32[cache[i]!]!;
    case 'q8_0':
      return (i) => {
        const base = (i >> 5) * Q8_0_BLOCK_BYTES;
        const q = cache[base + 2 + (i & 31)]!;
        return F16_TO_F32[cache[base]! | (cache[base + 1]! << 8)]! * (q > 127 ? q - 256 : q);
      };
  }
}
