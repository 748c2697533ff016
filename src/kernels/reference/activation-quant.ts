import { f32ToF16, F16_TO_F32 } from '../../quant/float16.js';

/** Activations quantized to Q8_0 blocks the way llama.cpp's x86 quantize_row_q8_0 does it. */
export interface Q8Activations {
  /** [numBlocks * 32] */
  readonly qs: Int8Array;
  /** [numBlocks] scale as stored (f16-rounded), in f32 */
  readonly d: Float32Array;
}

/** Rounds half to even, like _mm256_round_ps(_MM_ROUND_NEAREST). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function quantizeQ8_0(x: Float32Array, offset: number, n: number, out: Q8Activations): void {
  const numBlocks = n / 32;
  for (let b = 0; b < numBlocks; b++) {
    const base = offset + b * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const a = Math.abs(x[base + j]!);
      if (a > amax) amax = a;
    }
    out.d[b] = F16_TO_F32[f32ToF16(Math.fround(amax / 127))]!;
    const id = amax !== 0 ? Math.fround(127 / amax) : 0;
    for (let j = 0; j < 32; j++) out.qs[b * 32 + j] = roundHalfEven(Math.fround(x[base + j]! * id));
  }
}
