import { MXFP4_KVALUES, UE4M3_HALF_TABLE, e8m0ToF32Half } from '../../quant/index.js';
import type { Q8Activations } from './activation-quant.js';
import { fmaf } from './ggml-float.js';

/**
 * MXFP4 and NVFP4 weights × Q8_0 activations, as llama.cpp's CPU backend computes them
 * (ggml_vec_dot_mxfp4_q8_0, ggml_vec_dot_nvfp4_q8_0): per block (MXFP4, 32 values) or sub-block
 * (NVFP4, 16 values), the integer Σ KVALUES[q] · x_q, times f32(weight scale · activation scale),
 * accumulated with one rounding per (sub-)block.
 */

/** one row of MXFP4 blocks [firstBlock, firstBlock + numBlocks) · the activations */
export function dotMxfp4(w: Uint8Array, firstBlock: number, numBlocks: number, act: Q8Activations): number {
  let sum = 0;
  for (let b = 0; b < numBlocks; b++) {
    const base = (firstBlock + b) * 17;
    let isum = 0;
    for (let j = 0; j < 16; j++) {
      const q = w[base + 1 + j]!;
      isum += MXFP4_KVALUES[q & 0x0f]! * act.qs[b * 32 + j]! + MXFP4_KVALUES[q >> 4]! * act.qs[b * 32 + 16 + j]!;
    }
    sum = fmaf(isum, Math.fround(act.d[b]! * e8m0ToF32Half(w[base]!)), sum);
  }
  return sum;
}

/** one row of NVFP4 blocks (64 values each) [firstBlock, firstBlock + numBlocks) · the activations (two Q8_0 blocks per NVFP4 block) */
export function dotNvfp4(w: Uint8Array, firstBlock: number, numBlocks: number, act: Q8Activations): number {
  let sum = 0;
  for (let b = 0; b < numBlocks; b++) {
    const base = (firstBlock + b) * 36;
    for (let s = 0; s < 4; s++) {
      const x0 = b * 64 + s * 16;
      let isum = 0;
      for (let j = 0; j < 8; j++) {
        const q = w[base + 4 + s * 8 + j]!;
        isum += MXFP4_KVALUES[q & 0x0f]! * act.qs[x0 + j]! + MXFP4_KVALUES[q >> 4]! * act.qs[x0 + 8 + j]!;
      }
      sum = fmaf(isum, Math.fround(UE4M3_HALF_TABLE[w[base + s]!]! * act.d[2 * b + (s >> 1)]!), sum);
    }
  }
  return sum;
}
