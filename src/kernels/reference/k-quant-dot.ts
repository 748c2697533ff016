import { F16_TO_F32 } from '../../quant/float16.js';
import type { Q8KActivations } from './activation-quant.js';
import { fmaf } from './ggml-float.js';

/**
 * Dot products of one k-quant weight row with Q8_K activations, with the semantics of ggml's
 * ggml_vec_dot_q{4,5,6}_K_q8_K: per 256-element super-block the products are summed exactly in
 * integers (each sub-block's sum times its 6-bit / 8-bit scale; for Q4_K / Q5_K the mins term
 * Σ min_j · Σ q8 over the sub-block comes from the activations' bsums), then scaled by
 * d_w · d_x (and dmin_w · d_x) in f32. As ggml's x86 code, the mins term is accumulated apart
 * from the main sum and subtracted at the end.
 */

const f16At = (w: Uint8Array, byte: number): number => F16_TO_F32[w[byte]! | (w[byte + 1]! << 8)]!;

/** the 8 scales and 8 mins of a Q4_K / Q5_K super-block (12 bytes of 6-bit values at `o`) into out[0..16) */
function scalesMins(w: Uint8Array, o: number, out: Int32Array): void {
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      out[j] = w[o + j]! & 63;
      out[8 + j] = w[o + j + 4]! & 63;
    } else {
      out[j] = (w[o + j + 4]! & 0xf) | ((w[o + j - 4]! >> 6) << 4);
      out[8 + j] = (w[o + j + 4]! >> 4) | ((w[o + j]! >> 6) << 4);
    }
  }
}

const scratch = new Int32Array(16);

/** Q4_K (144 bytes per 256) or Q5_K (176 bytes) row starting at super-block `firstBlock` */
export function dotQ45K(w: Uint8Array, isQ5: boolean, firstBlock: number, numBlocks: number, act: Q8KActivations): number {
  const blockBytes = isQ5 ? 176 : 144;
  const sm = scratch;
  let sum = 0;
  let sumMins = 0;
  for (let b = 0; b < numBlocks; b++) {
    const o = (firstBlock + b) * blockBytes;
    scalesMins(w, o + 4, sm);
    const qh = o + 16;
    const ql = o + (isQ5 ? 48 : 16);
    let sumi = 0;
    for (let j = 0; j < 8; j++) {
      // sub-block j: low nibbles (even j) or high nibbles (odd j) of bytes 32·(j>>1) .. +32
      const q = ql + 32 * (j >> 1);
      const shift = (j & 1) * 4;
      const x = b * 256 + 32 * j;
      let isum = 0;
      for (let l = 0; l < 32; l++) {
        let v = (w[q + l]! >> shift) & 0xf;
        if (isQ5 && (w[qh + l]! >> j) & 1) v += 16;
        isum += v * act.qs[x + l]!;
      }
      sumi += sm[j]! * isum;
    }
    let mins = 0;
    for (let j = 0; j < 8; j++) mins += sm[8 + j]! * (act.bsums[b * 16 + 2 * j]! + act.bsums[b * 16 + 2 * j + 1]!);
    const dy = act.d[b]!;
    sum = fmaf(Math.fround(f16At(w, o) * dy), sumi, sum);
    sumMins = fmaf(Math.fround(f16At(w, o + 2) * dy), mins, sumMins);
  }
  return Math.fround(sum - sumMins);
}

/** Q6_K (210 bytes per 256) row starting at super-block `firstBlock` */
export function dotQ6K(w: Uint8Array, firstBlock: number, numBlocks: number, act: Q8KActivations): number {
  let sum = 0;
  for (let b = 0; b < numBlocks; b++) {
    const o = (firstBlock + b) * 210;
    let sumi = 0;
    for (let half = 0; half < 2; half++) {
      const ql = o + 64 * half;
      const qh = o + 128 + 32 * half;
      const sc = o + 192 + 8 * half;
      const x = b * 256 + 128 * half;
      // sub-block s (16 elements) of this half: element e = 16·s + i; part k = e >> 5, l = e & 31
      for (let s = 0; s < 8; s++) {
        const k = s >> 1;
        let isum = 0;
        for (let i = 0; i < 16; i++) {
          const l = 16 * (s & 1) + i;
          const lo = k & 1 ? w[ql + 32 + l]! : w[ql + l]!;
          const q = (((k & 2 ? lo >> 4 : lo & 0xf) | (((w[qh + l]! >> (2 * k)) & 3) << 4)) - 32);
          isum += q * act.qs[x + 16 * s + i]!;
        }
        sumi += ((w[sc + s]! << 24) >> 24) * isum;
      }
    }
    sum = fmaf(Math.fround(f16At(w, o + 208) * act.d[b]!), sumi, sum);
  }
  return sum;
}
