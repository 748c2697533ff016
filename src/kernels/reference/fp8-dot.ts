import { E4M3_TABLE, e8m0ToF32 } from '../../quant/index.js';
import { fmaf } from './ggml-float.js';

/**
 * FP8_E4M3 weights (Peregrine's OCP MXFP8 E4M3 blocks) × f32 activations, one row: per block of 32
 * the f32 Σ e4m3(q)·x in order, then sum += that · 2^(e − 127) with one rounding. The native kernels
 * compute the same sums in other orders (8 lanes).
 */
export function dotFp8(w: Uint8Array, firstBlock: number, numBlocks: number, x: Float32Array, xOffset: number): number {
  let sum = 0;
  for (let b = 0; b < numBlocks; b++) {
    const base = (firstBlock + b) * 33;
    let s = 0;
    for (let j = 0; j < 32; j++) s = Math.fround(s + Math.fround(E4M3_TABLE[w[base + 1 + j]!]! * x[xOffset + b * 32 + j]!));
    sum = fmaf(s, e8m0ToF32(w[base]!), sum);
  }
  return sum;
}
