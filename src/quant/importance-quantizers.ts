/**
 * Importance-weighted quantizers (calibration, issue 18): rows of a weight
 * matrix quantized so that the columns whose activations are large (importance[col] = the mean of
 * the squared activations that column multiplies, llama.cpp's imatrix statistic) are rounded more
 * carefully, since an error δ in column c adds about importance[c] · δ² to the output's squared
 * error.
 *
 * Q4_0, Q5_0, Q4_K, Q5_K and Q6_K follow llama.cpp's imatrix path (quantize_row_q4_0_impl,
 * quantize_row_q5_0_impl, quantize_row_q4_K_impl, ..._q5_K_impl, ..._q6_K_impl) step by step in f32; llama.cpp has none for MXFP4 and NVFP4 (it ignores the imatrix there), so
 * theirs are Peregrine's: each block's scale is the candidate near ggml's choice with the least
 * weighted error.
 */
import { GgmlType, ggmlByteSize } from '../formats/ggml-type.js';
import { f32ToF16 } from './float16.js';
import { makeQxQuants, quantizeQ4KWeighted, quantizeQ5KWeighted, quantizeQ6KWeighted } from './k-quants.js';
import { e8m0ToF32Half, MXFP4_KVALUES, nearestE2M1Code } from './mxfp4.js';
import { f32ToUe4m3, UE4M3_HALF_TABLE } from './nvfp4.js';

const fr = Math.fround;

/** Quantizes rows of `numCols` values (src.length a multiple of it) with per-column importance ([numCols], ≥ 0). */
export type ImportanceQuantizer = (src: Float32Array, numCols: number, importance: Float32Array) => Uint8Array;

/**
 * The types calibration changes, with their weighted quantizers: the 4-bit ones; the types
 * llama-quantize writes beside or instead of Q4_K in a Q4_K_M file (Q6_K for some tensors; Q5_0 where
 * rows are not a multiple of 256); Q5_K (Q5_K_M's). Other types quantize as without calibration.
 */
const IMPORTANCE_QUANTIZERS = new Map<GgmlType, ImportanceQuantizer>([
  [GgmlType.Q4_0, (src, numCols, importance) => quantizeQx0Weighted(GgmlType.Q4_0, src, numCols, importance)],
  [GgmlType.Q5_0, (src, numCols, importance) => quantizeQx0Weighted(GgmlType.Q5_0, src, numCols, importance)],
  [GgmlType.Q4_K, quantizeQ4KWeighted],
  [GgmlType.Q5_K, quantizeQ5KWeighted],
  [GgmlType.Q6_K, quantizeQ6KWeighted],
  [GgmlType.MXFP4, quantizeMxfp4Weighted],
  [GgmlType.NVFP4, quantizeNvfp4Weighted],
]);

export function importanceQuantizer(type: GgmlType): ImportanceQuantizer | undefined {
  return IMPORTANCE_QUANTIZERS.get(type);
}

/** σ² of one row: Σx²/n in f32, summed in order (as ggml) */
function rowSigma2(src: Float32Array, from: number, n: number): number {
  let sumX2 = 0;
  for (let j = 0; j < n; j++) sumX2 = fr(sumX2 + fr(src[from + j]! * src[from + j]!));
  return fr(sumX2 / n);
}

const qx0Weights = new Float32Array(32);
const qx0Levels = new Int8Array(32);

/**
 * llama.cpp's quantize_row_q4_0_impl and quantize_row_q5_0_impl (blocks of 32, x = d · (q − nmax)):
 * weights importance · sqrt(σ²_row + x²), then make_qx_quants over 19 scales; Q5_0's fifth bits go
 * to its u32 qh (bit j of value j).
 */
function quantizeQx0Weighted(type: GgmlType.Q4_0 | GgmlType.Q5_0, src: Float32Array, numCols: number, importance: Float32Array): Uint8Array {
  const out = new Uint8Array(ggmlByteSize(type, src.length));
  const v = new DataView(out.buffer);
  const isQ5 = type === GgmlType.Q5_0;
  const blockBytes = isQ5 ? 22 : 18;
  const qs = isQ5 ? 6 : 2;
  for (let row = 0; row < src.length; row += numCols) {
    const sigma2 = rowSigma2(src, row, numCols);
    for (let c = 0; c < numCols; c += 32) {
      const xo = row + c;
      for (let j = 0; j < 32; j++) qx0Weights[j] = fr(importance[c + j]! * fr(Math.sqrt(fr(sigma2 + fr(src[xo + j]! * src[xo + j]!)))));
      const d = makeQxQuants(32, isQ5 ? 16 : 8, src, xo, qx0Levels, 0, true, qx0Weights);
      const o = (xo / 32) * blockBytes;
      v.setUint16(o, f32ToF16(d), true);
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const l0 = qx0Levels[j]!;
        const l1 = qx0Levels[j + 16]!;
        out[o + qs + j] = (l0 & 0x0f) | ((l1 & 0x0f) << 4);
        qh |= ((l0 >> 4) << j) | ((l1 >> 4) << (j + 16));
      }
      if (isQ5) v.setUint32(o + 2, qh >>> 0, true);
    }
  }
  return out;
}

/** Σ w·(x − KVALUES[nearest code]·d)² over one block, and the codes in `codes` */
function e2m1Error(src: Float32Array, xo: number, n: number, weights: Float32Array, d: number, codes: Uint8Array): number {
  let err = 0;
  for (let j = 0; j < n; j++) {
    const q = nearestE2M1Code(src[xo + j]!, d);
    codes[j] = q;
    const diff = src[xo + j]! - MXFP4_KVALUES[q]! * d;
    err += weights[j]! * diff * diff;
  }
  return err;
}

/**
 * per-value weights: the column's importance alone, so that the error weighed is the output's
 * (Σ importance · δ²). llama.cpp's extra factor sqrt(2σ²_block + x²) (IQ4_NL's) made calibrated
 * MXFP4 (importance weights alone, no AWQ) worse than uncalibrated on three of stories260K's
 * held-out texts (mean KLD +1% to +6%); without it −5% to +1%, and NVFP4's −19% to −30% (−19% to
 * −26% with it).
 */
function blockWeights(n: number, importance: Float32Array, col0: number, out: Float32Array): void {
  for (let j = 0; j < n; j++) out[j] = importance[col0 + j]!;
}

const fp4Weights = new Float32Array(32);
const fp4Codes = new Uint8Array(32);
const fp4BestCodes = new Uint8Array(32);

/** MXFP4: per block of 32, the E8M0 exponent among ggml's e and e ± 1 with the least weighted error (ggml's on a tie). */
function quantizeMxfp4Weighted(src: Float32Array, numCols: number, importance: Float32Array): Uint8Array {
  const out = new Uint8Array(ggmlByteSize(GgmlType.MXFP4, src.length));
  for (let xo = 0; xo < src.length; xo += 32) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[xo + j]!));
    const e0 = amax > 0 ? Math.min(255, Math.max(0, Math.floor(fr(Math.log2(amax))) - 2 + 127)) : 0;
    blockWeights(32, importance, xo % numCols, fp4Weights);
    let bestE = e0;
    let bestErr = e2m1Error(src, xo, 32, fp4Weights, e8m0ToF32Half(e0), fp4BestCodes);
    for (const e of [e0 - 1, e0 + 1]) {
      if (e < 0 || e > 255 || amax === 0) continue;
      const err = e2m1Error(src, xo, 32, fp4Weights, e8m0ToF32Half(e), fp4Codes);
      if (err < bestErr) {
        bestErr = err;
        bestE = e;
        fp4BestCodes.set(fp4Codes);
      }
    }
    const o = (xo / 32) * 17;
    out[o] = bestE;
    for (let j = 0; j < 16; j++) out[o + 1 + j] = fp4BestCodes[j]! | (fp4BestCodes[j + 16]! << 4);
  }
  return out;
}

/**
 * NVFP4 for a file quantized without calibration (quantize-model.ts): every column equally
 * important, so each sub-block's UE4M3 scale is the one with the least squared error among ggml's
 * and the two codes either side. llama-quantize writes no NVFP4 files (llama.cpp quantizes NVFP4
 * only row by row, with quantize_row_nvfp4_ref, which the codec keeps); ggml's scale, amax / 6
 * rounded to UE4M3's 3 mantissa bits, lands up to 6% off, and the search takes 10% off the RMS
 * error of stories260K's matrices (0.0960 → 0.0863 of their RMS; Q4_0's is 0.0836).
 */
export function quantizeNvfp4Searched(src: Float32Array, numCols: number): Uint8Array {
  return quantizeNvfp4Weighted(src, numCols, new Float32Array(numCols).fill(1));
}

/** NVFP4: per sub-block of 16, the UE4M3 scale among ggml's (amax/6 rounded) and the two codes either side with the least weighted error. */
function quantizeNvfp4Weighted(src: Float32Array, numCols: number, importance: Float32Array): Uint8Array {
  const out = new Uint8Array(ggmlByteSize(GgmlType.NVFP4, src.length));
  for (let xo = 0; xo < src.length; xo += 16) {
    let amax = 0;
    for (let j = 0; j < 16; j++) amax = Math.max(amax, Math.abs(src[xo + j]!));
    const ue0 = f32ToUe4m3(fr(amax / 6));
    blockWeights(16, importance, xo % numCols, fp4Weights);
    let bestUe = ue0;
    let bestErr = e2m1Error(src, xo, 16, fp4Weights, UE4M3_HALF_TABLE[ue0]!, fp4BestCodes);
    for (const ue of [ue0 - 2, ue0 - 1, ue0 + 1, ue0 + 2]) {
      if (ue < 1 || ue > 0x7e || ue0 === 0) continue; // UE4M3 bytes 1..0x7e grow with their value
      const err = e2m1Error(src, xo, 16, fp4Weights, UE4M3_HALF_TABLE[ue]!, fp4Codes);
      if (err < bestErr) {
        bestErr = err;
        bestUe = ue;
        fp4BestCodes.set(fp4Codes.subarray(0, 16));
      }
    }
    const block = Math.floor(xo / 64);
    const sub = (xo / 16) % 4;
    const o = block * 36;
    out[o + sub] = bestUe;
    for (let j = 0; j < 8; j++) out[o + 4 + sub * 8 + j] = fp4BestCodes[j]! | (fp4BestCodes[j + 8]! << 4);
  }
  return out;
}
