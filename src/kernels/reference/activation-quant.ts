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

/** Activations quantized to Q8_K super-blocks (256 elements) as ggml's quantize_row_q8_K. */
export interface Q8KActivations {
  /** [numBlocks * 256] */
  readonly qs: Int8Array;
  /** [numBlocks] f32 scale */
  readonly d: Float32Array;
  /** [numBlocks * 16] Σ qs over each 16 elements */
  readonly bsums: Int16Array;
}

/**
 * ggml's quantize_row_q8_K_ref (what x86 uses): per 256, the element of largest magnitude `max`
 * (first one on ties) maps to -127; iscale = -127/max, q = min(127, nearest(iscale·x)), d = 1/iscale.
 */
export function quantizeQ8K(x: Float32Array, offset: number, n: number, out: Q8KActivations): void {
  for (let b = 0; b < n / 256; b++) {
    const base = offset + b * 256;
    let max = 0;
    let amax = 0;
    for (let j = 0; j < 256; j++) {
      const a = Math.abs(x[base + j]!);
      if (a > amax) {
        amax = a;
        max = x[base + j]!;
      }
    }
    if (amax === 0) {
      out.d[b] = 0;
      out.qs.fill(0, b * 256, b * 256 + 256);
      out.bsums.fill(0, b * 16, b * 16 + 16);
      continue;
    }
    const iscale = Math.fround(-127 / max);
    for (let j = 0; j < 256; j++) out.qs[b * 256 + j] = Math.min(127, roundHalfEven(Math.fround(iscale * x[base + j]!)));
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let i = 0; i < 16; i++) sum += out.qs[b * 256 + 16 * j + i]!;
      out.bsums[b * 16 + j] = sum;
    }
    out.d[b] = Math.fround(1 / iscale);
  }
}
