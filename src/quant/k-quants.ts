/**
 * K-quant codecs (Q4_K, Q5_K, Q6_K, Q8_K): 256-element super-blocks with per-sub-block scales.
 *
 * Block layouts (little-endian, byte offsets), as in ggml-common.h:
 *   Q4_K (144 B): d f16 @0, dmin f16 @2, scales[12] @4 (8 × 6-bit scale + 8 × 6-bit min), qs[128] @16
 *   Q5_K (176 B): d f16 @0, dmin f16 @2, scales[12] @4, qh[32] @16 (5th bits), qs[128] @48
 *   Q6_K (210 B): ql[128] @0 (low 4 bits), qh[64] @128 (high 2 bits), scales[16] int8 @192, d f16 @208
 *   Q8_K (292 B): d f32 @0, qs[256] int8 @4, bsums[16] int16 @260 (sums of 16 quants; activation type)
 *
 * Dequantization is bit-exact with ggml's dequantize_row_q*_K: ggml rounds once per element (the
 * k-quant scale products are exact in f32), and here the f64 arithmetic is exact until the single
 * rounding on the store into the Float32Array.
 * Quantization follows quantize_row_q*_K_ref (make_qkx2_quants / make_qx_quants) step by step in
 * f32 arithmetic (Math.fround after every operation), which reproduces ggml built without FMA
 * contraction (the x86-64 ggml-base build) bit for bit.
 */
import { GgmlType, ggmlByteSize, ggmlTypeName } from '../formats/ggml-type.js';
import { registerCodec, type QuantCodec } from './codec.js';
import { f16ToF32, f32ToF16 } from './float16.js';

const QK_K = 256;
const fr = Math.fround;
const GROUP_MAX_EPS = fr(1e-15);
const F32_0_1 = fr(0.1);

/**
 * ggml's nearest_int for an f32 value (|x| < 2^22): round half to even, by the same trick of adding
 * 1.5 * 2^23 in f32 (the double sum is exact; fround then rounds at integer granularity).
 */
function nearestInt(x: number): number {
  return fr(x + 12582912) - 12582912;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkLength(type: string, n: number): void {
  if (n % QK_K !== 0) throw new Error(`${type}: element count ${n} is not a multiple of ${QK_K}`);
}

// Scratch buffers shared by the quantizers (single-threaded, never re-entered).
const scratchL = new Uint8Array(QK_K);
const scratchL8 = new Int8Array(QK_K);
const scratchLaux = new Uint8Array(32);
const scratchLprev = new Uint8Array(32);
const scratchWeights = new Float32Array(32);
const scratchScales = new Float32Array(16);
const scratchQ6Weights = new Float32Array(16);
const scratchMins = new Float32Array(8);
const scratchMin = new Float32Array(1);
/** a Q4_K / Q5_K block's 6-bit sub-block scales and mins */
const scratchLs = new Uint8Array(8);
const scratchLm = new Uint8Array(8);

/**
 * Fits x[xo..xo+n) ≈ scale * L - min with L in [0, nmax] by weighted least squares over a grid of
 * candidate inverse scales (make_qkx2_quants). Writes L[lo..lo+n), puts `min` (≥ 0) in
 * scratchMin[0] and returns the scale.
 */
function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array, L: Uint8Array, lo: number,
  rmin: number, rdelta: number, nstep: number, useMad: boolean,
): number {
  let min = x[xo]!;
  let max = x[xo]!;
  let sumW = weights[0]!;
  let sumX = fr(sumW * x[xo]!);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    scratchMin[0] = -min;
    return 0;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(xi - min)))));
    L[lo + i] = l;
    let diff = fr(fr(fr(scale * l) + min) - xi);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(weights[i]! * diff));
  }
  if (nstep < 1) {
    scratchMin[0] = -min;
    return scale;
  }
  const Laux = scratchLaux;
  const Lprev = scratchLprev;
  for (let is = 0; is <= nstep; is++) {
    // `min` moves when a candidate wins, and later candidates are taken relative to it (as in ggml)
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let isSame = is > 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(x[xo + i]! - min)))));
      Laux[i] = l;
      if (l !== Lprev[i]) isSame = false;
    }
    // The fit below depends only on Laux: a repeat of the previous candidate cannot win.
    if (isSame) continue;
    Lprev.set(Laux);
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Laux[i]!;
      const wl = fr(weights[i]! * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * x[xo + i]!));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = fr(fr(fr(thisScale * Laux[i]!) + thisMin) - x[xo + i]!);
        diff = useMad ? Math.abs(diff) : fr(diff * diff);
        curError = fr(curError + fr(weights[i]! * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i]!;
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  scratchMin[0] = -min;
  return scale;
}

/**
 * Fits x[xo..xo+n) ≈ scale * (L - nmax) with L in [0, 2*nmax) (make_qx_quants, rmse_type 1:
 * weights x², or qw[0..n) where given (llama.cpp's imatrix path); 19 candidate scales around
 * -nmax/max). Writes L[lo..lo+n) and returns the scale.
 */
export function makeQxQuants(
  n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number, isSearching: boolean, qw?: Float32Array,
): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = fr(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
    L[lo + i] = l + nmax;
    const w = qw ? qw[i]! : fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 ? fr(sumlx / suml2) : 0;
  if (!isSearching) return scale;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(F32_0_1 * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
      const w = qw ? qw[i]! : fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * x[xo + i]!))));
        L[lo + i] = nmax + l;
      }
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** Unpacks sub-block j's 6-bit scale and min from the 12-byte Q4_K/Q5_K scales field at `at`. */
function scaleMinK4(j: number, q: Uint8Array, at: number): { sc: number; m: number } {
  if (j < 4) return { sc: q[at + j]! & 63, m: q[at + j + 4]! & 63 };
  return {
    sc: (q[at + j + 4]! & 0xf) | ((q[at + j - 4]! >> 6) << 4),
    m: (q[at + j + 4]! >> 4) | ((q[at + j]! >> 6) << 4),
  };
}

/**
 * Shared part of Q4_K and Q5_K quantization: per 32-element sub-block scale/min fit, 6-bit scale
 * packing into out[o+4..o+16), f16 d/dmin at out[o], out[o+2], and final levels into scratchL.
 */
function quantizeScaleMinBlock(
  x: Float32Array, xo: number, out: Uint8Array, o: number, v: DataView, nmax: number, rmin: number, nstep: number,
): void {
  const L = scratchL;
  const weights = scratchWeights;
  const scales = scratchScales;
  const mins = scratchMins;
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) {
      const xi = x[xo + 32 * j + l]!;
      sumX2 = fr(sumX2 + fr(xi * xi));
    }
    const avX = fr(Math.sqrt(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = avX + Math.abs(x[xo + 32 * j + l]!);
    const scale = makeQkx2Quants(32, nmax, x, xo + 32 * j, weights, L, 32 * j, rmin, F32_0_1, nstep, false);
    scales[j] = scale;
    mins[j] = scratchMin[0]!;
    if (scale > maxScale) maxScale = scale;
    if (mins[j]! > maxMin) maxMin = mins[j]!;
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    scratchLs[j] = Math.min(63, nearestInt(fr(invScale * scales[j]!)) & 0xff);
    scratchLm[j] = Math.min(63, nearestInt(fr(invMin * mins[j]!)) & 0xff);
  }
  writeScaleMinBlock(x, xo, out, o, v, nmax, scratchLs, scratchLm, fr(maxScale / 63), fr(maxMin / 63));
}

/**
 * The rest of a Q4_K / Q5_K block once its 6-bit sub-block scales `ls` and mins `lm` and the
 * block's d and dmin are chosen: packs them (get_scale_min_k4's layout) and d/dmin as f16 at `o`,
 * then requantizes each sub-block's values into L (0..nmax) with the scales as stored.
 */
function writeScaleMinBlock(
  x: Float32Array, xo: number, out: Uint8Array, o: number, v: DataView, nmax: number, ls: Uint8Array, lm: Uint8Array, d: number, dmin: number,
): void {
  const L = scratchL;
  const s = o + 4;
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      out[s + j] = ls[j]!;
      out[s + j + 4] = lm[j]!;
    } else {
      out[s + j + 4] = (ls[j]! & 0xf) | ((lm[j]! & 0xf) << 4);
      out[s + j - 4] |= (ls[j]! >> 4) << 6;
      out[s + j] |= (lm[j]! >> 4) << 6;
    }
  }
  const dBits = f32ToF16(d);
  const dminBits = f32ToF16(dmin);
  v.setUint16(o, dBits, true);
  v.setUint16(o + 2, dminBits, true);
  const dAll = f16ToF32(dBits);
  const dminAll = f16ToF32(dminBits);
  for (let j = 0; j < 8; j++) {
    const { sc, m } = scaleMinK4(j, out, s);
    const dj = fr(dAll * sc);
    if (!dj) continue;
    const dm = fr(dminAll * m);
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fr(fr(x[xo + 32 * j + ii]! + dm) / dj));
      L[32 * j + ii] = Math.max(0, Math.min(nmax, l));
    }
  }
}

function quantizeQ4K(src: Float32Array, effort: KQuantEffort): Uint8Array {
  checkLength('Q4_K', src.length);
  const out = new Uint8Array(ggmlByteSize(GgmlType.Q4_K, src.length));
  const v = view(out);
  for (let b = 0; b < src.length / QK_K; b++) {
    const o = b * 144;
    quantizeScaleMinBlock(src, b * QK_K, out, o, v, 15, -1, effort === 'reference' ? 20 : 0);
    packQ4KLevels(out, o);
  }
  return out;
}

/** a Q4_K block's levels (scratchL, 0..15) into its 128 bytes of nibbles */
function packQ4KLevels(out: Uint8Array, o: number): void {
  const L = scratchL;
  for (let j = 0, q = o + 16; j < QK_K; j += 64, q += 32) {
    for (let l = 0; l < 32; l++) out[q + l] = L[j + l]! | (L[j + l + 32]! << 4);
  }
}

/** a Q5_K block's levels (scratchL, 0..31) into its qh bits and nibbles */
function packQ5KLevels(out: Uint8Array, o: number): void {
  const L = scratchL;
  const qh = o + 16;
  let m1 = 1;
  let m2 = 2;
  for (let n = 0, ql = o + 48; n < QK_K; n += 64, ql += 32) {
    for (let j = 0; j < 32; j++) {
      let l1 = L[n + j]!;
      if (l1 > 15) {
        l1 -= 16;
        out[qh + j] |= m1;
      }
      let l2 = L[n + j + 32]!;
      if (l2 > 15) {
        l2 -= 16;
        out[qh + j] |= m2;
      }
      out[ql + j] = l1 | (l2 << 4);
    }
    m1 <<= 2;
    m2 <<= 2;
  }
}

export const q4KCodec: QuantCodec = {
  type: GgmlType.Q4_K,
  quantize: (src) => quantizeQ4K(src, 'reference'),
  quantizeFast: (src) => quantizeQ4K(src, 'fast'),
  dequantize(src, start, n, dst, dstOffset = 0) {
    for (let b = start / QK_K, y = dstOffset; y < dstOffset + n; b++) {
      const o = b * 144;
      const d = f16ToF32(src[o]! | (src[o + 1]! << 8));
      const dmin = f16ToF32(src[o + 2]! | (src[o + 3]! << 8));
      for (let j = 0, q = o + 16; j < 8; j += 2, q += 32) {
        const a = scaleMinK4(j, src, o + 4);
        const c = scaleMinK4(j + 1, src, o + 4);
        const d1 = d * a.sc, m1 = dmin * a.m;
        const d2 = d * c.sc, m2 = dmin * c.m;
        for (let l = 0; l < 32; l++) dst[y + l] = d1 * (src[q + l]! & 0xf) - m1;
        for (let l = 0; l < 32; l++) dst[y + 32 + l] = d2 * (src[q + l]! >> 4) - m2;
        y += 64;
      }
    }
  },
};

/**
 * Fits x[0..n) ≥ 0 ≈ scale * L with L in [0, nmax], minimizing Σ w·(x − scale·L)²: 9 candidate
 * scales around max/nmax, then up to 5 passes moving single levels (make_qp_quants, which quantizes
 * a Q4_K block's 8 sub-block scales and mins under an imatrix). Writes L and returns the scale.
 */
function makeQpQuants(n: number, nmax: number, x: Float32Array, L: Uint8Array, w: Float32Array): number {
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, x[i]!);
  if (max < GROUP_MAX_EPS) {
    L.fill(0, 0, n);
    return 0;
  }
  let iscale = fr(nmax / max);
  for (let i = 0; i < n; i++) L[i] = nearestInt(fr(iscale * x[i]!));
  const scale = fr(1 / iscale);
  let bestMse = 0;
  for (let i = 0; i < n; i++) {
    const diff = fr(x[i]! - fr(scale * L[i]!));
    bestMse = fr(bestMse + fr(fr(w[i]! * diff) * diff));
  }
  for (let is = -4; is <= 4; is++) {
    if (is === 0) continue;
    const iscaleIs = fr(fr(fr(F32_0_1 * is) + nmax) / max);
    const scaleIs = fr(1 / iscaleIs);
    let mse = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.min(nmax, nearestInt(fr(iscaleIs * x[i]!)));
      const diff = fr(x[i]! - fr(scaleIs * l));
      mse = fr(mse + fr(fr(w[i]! * diff) * diff));
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.min(nmax, nearestInt(fr(iscale * x[i]!)));
    L[i] = l;
    sumlx = fr(sumlx + fr(fr(w[i]! * x[i]!) * l));
    suml2 = fr(suml2 + fr(fr(w[i]! * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let numChanged = 0;
    for (let i = 0; i < n; i++) {
      const wi = w[i]!;
      let slx = fr(sumlx - fr(fr(wi * x[i]!) * L[i]!));
      let sl2 = fr(suml2 - fr(fr(wi * L[i]!) * L[i]!));
      if (slx > 0 && sl2 > 0) {
        const newL = Math.min(nmax, nearestInt(fr(fr(x[i]! * sl2) / slx)));
        if (newL !== L[i]) {
          slx = fr(slx + fr(fr(wi * x[i]!) * newL));
          sl2 = fr(sl2 + fr(fr(wi * newL) * newL));
          if (fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            L[i] = newL;
            sumlx = slx;
            suml2 = sl2;
            numChanged++;
          }
        }
      }
    }
    if (!numChanged) break;
  }
  return suml2 > 0 ? fr(sumlx / suml2) : 0;
}

const scratchSumW = new Float32Array(8);

/**
 * Q4_K or Q5_K with an importance matrix (llama.cpp's quantize_row_q4_K_impl and
 * quantize_row_q5_K_impl): rows of `numCols` values, each column weighted by importance[col] (the
 * mean of the squared activations it multiplies), times sqrt(σ² + x²) per value; sub-blocks fitted
 * by make_qkx3_quants (36 candidate scales), their scales and mins quantized by make_qp_quants
 * weighted by the sub-blocks' total weight. Written step by step in f32 as the C code.
 */
function quantizeScaleMinWeighted(type: GgmlType.Q4_K | GgmlType.Q5_K, src: Float32Array, numCols: number, importance: Float32Array): Uint8Array {
  checkLength(ggmlTypeName(type), numCols);
  const out = new Uint8Array(ggmlByteSize(type, src.length));
  const v = view(out);
  const isQ5 = type === GgmlType.Q5_K;
  const nmax = isQ5 ? 31 : 15;
  const blockBytes = isQ5 ? 176 : 144;
  const L = scratchL;
  const weights = scratchWeights;
  const scales = scratchScales;
  const mins = scratchMins;
  const sw = scratchSumW;
  for (let b = 0; b < src.length / QK_K; b++) {
    const xo = b * QK_K;
    const col0 = xo % numCols;
    const o = b * blockBytes;
    let sumX2 = 0;
    for (let l = 0; l < QK_K; l++) sumX2 = fr(sumX2 + fr(src[xo + l]! * src[xo + l]!));
    const sigma2 = fr(fr(2 * sumX2) / QK_K);
    for (let j = 0; j < 8; j++) {
      let sumW = 0;
      for (let l = 0; l < 32; l++) {
        const xi = src[xo + 32 * j + l]!;
        weights[l] = fr(importance[col0 + 32 * j + l]! * fr(Math.sqrt(fr(sigma2 + fr(xi * xi)))));
        sumW = fr(sumW + weights[l]!);
      }
      sw[j] = sumW;
      scales[j] = makeQkx2Quants(32, nmax, src, xo + 32 * j, weights, L, 32 * j, fr(-0.9), fr(0.05), 36, false);
      mins[j] = scratchMin[0]!;
    }
    const dBlock = makeQpQuants(8, 63, scales, scratchLs, sw);
    const mBlock = makeQpQuants(8, 63, mins, scratchLm, sw);
    writeScaleMinBlock(src, xo, out, o, v, nmax, scratchLs, scratchLm, dBlock, mBlock);
    if (isQ5) packQ5KLevels(out, o);
    else packQ4KLevels(out, o);
  }
  return out;
}

/** Q4_K with an importance matrix ([numCols]), as llama.cpp's quantize_q4_K with one */
export function quantizeQ4KWeighted(src: Float32Array, numCols: number, importance: Float32Array): Uint8Array {
  return quantizeScaleMinWeighted(GgmlType.Q4_K, src, numCols, importance);
}

/** Q5_K with an importance matrix ([numCols]), as llama.cpp's quantize_q5_K with one */
export function quantizeQ5KWeighted(src: Float32Array, numCols: number, importance: Float32Array): Uint8Array {
  return quantizeScaleMinWeighted(GgmlType.Q5_K, src, numCols, importance);
}

function quantizeQ5K(src: Float32Array, effort: KQuantEffort): Uint8Array {
  checkLength('Q5_K', src.length);
  const out = new Uint8Array(ggmlByteSize(GgmlType.Q5_K, src.length));
  const v = view(out);
  for (let b = 0; b < src.length / QK_K; b++) {
    const o = b * 176;
    quantizeScaleMinBlock(src, b * QK_K, out, o, v, 31, -0.5, effort === 'reference' ? 15 : 0);
    packQ5KLevels(out, o);
  }
  return out;
}

export const q5KCodec: QuantCodec = {
  type: GgmlType.Q5_K,
  quantize: (src) => quantizeQ5K(src, 'reference'),
  quantizeFast: (src) => quantizeQ5K(src, 'fast'),
  dequantize(src, start, n, dst, dstOffset = 0) {
    for (let b = start / QK_K, y = dstOffset; y < dstOffset + n; b++) {
      const o = b * 176;
      const d = f16ToF32(src[o]! | (src[o + 1]! << 8));
      const dmin = f16ToF32(src[o + 2]! | (src[o + 3]! << 8));
      const qh = o + 16;
      let u1 = 1;
      let u2 = 2;
      for (let j = 0, ql = o + 48; j < 8; j += 2, ql += 32) {
        const a = scaleMinK4(j, src, o + 4);
        const c = scaleMinK4(j + 1, src, o + 4);
        const d1 = d * a.sc, m1 = dmin * a.m;
        const d2 = d * c.sc, m2 = dmin * c.m;
        for (let l = 0; l < 32; l++) dst[y + l] = d1 * ((src[ql + l]! & 0xf) + (src[qh + l]! & u1 ? 16 : 0)) - m1;
        for (let l = 0; l < 32; l++) dst[y + 32 + l] = d2 * ((src[ql + l]! >> 4) + (src[qh + l]! & u2 ? 16 : 0)) - m2;
        y += 64;
        u1 <<= 2;
        u2 <<= 2;
      }
    }
  },
};

/**
 * Q6_K, as quantize_row_q6_K_ref, or with `importance` (rows of `numCols` values) as llama.cpp's
 * quantize_row_q6_K_impl with an imatrix: each sub-block of 16 fitted by make_qx_quants weighted by
 * its columns' importance alone (no sqrt(σ² + x²) factor there).
 */
function quantizeQ6K(src: Float32Array, effort: KQuantEffort, importance?: Float32Array, numCols = src.length): Uint8Array {
  checkLength('Q6_K', src.length);
  if (importance) checkLength('Q6_K', numCols);
  const out = new Uint8Array(ggmlByteSize(GgmlType.Q6_K, src.length));
  const v = view(out);
  const L = scratchL8;
  const scales = scratchScales;
  for (let b = 0; b < src.length / QK_K; b++) {
    const o = b * 210;
    const xo = b * QK_K;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const qw = importance && scratchQ6Weights;
      if (qw) for (let l = 0; l < 16; l++) qw[l] = importance![(xo % numCols) + 16 * ib + l]!;
      const scale = makeQxQuants(16, 32, src, xo + 16 * ib, L, 16 * ib, effort === 'reference', qw);
      scales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue; // all-zero block: every byte stays 0
    const iscale = fr(-128 / maxScale);
    const dBits = f32ToF16(fr(1 / iscale));
    v.setUint16(o + 208, dBits, true);
    for (let ib = 0; ib < 16; ib++) v.setInt8(o + 192 + ib, Math.min(127, nearestInt(fr(iscale * scales[ib]!))));
    const dAll = f16ToF32(dBits);
    for (let j = 0; j < 16; j++) {
      const d = fr(dAll * v.getInt8(o + 192 + j));
      if (!d) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(src[xo + 16 * j + ii]! / d));
        L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    for (let j = 0, ql = o, qh = o + 128; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const q1 = L[j + l]!, q2 = L[j + l + 32]!, q3 = L[j + l + 64]!, q4 = L[j + l + 96]!;
        out[ql + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
        out[ql + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
        out[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
  return out;
}

/** Q6_K with an importance matrix ([numCols], the mean squared activation of each column), as llama.cpp's quantize_q6_K with one */
export function quantizeQ6KWeighted(src: Float32Array, numCols: number, importance: Float32Array): Uint8Array {
  return quantizeQ6K(src, 'reference', importance, numCols);
}

export const q6KCodec: QuantCodec = {
  type: GgmlType.Q6_K,
  quantize: (src) => quantizeQ6K(src, 'reference'),
  quantizeFast: (src) => quantizeQ6K(src, 'fast'),
  dequantize(src, start, n, dst, dstOffset = 0) {
    const v = view(src);
    for (let b = start / QK_K, y = dstOffset; y < dstOffset + n; b++) {
      const o = b * 210;
      const d = f16ToF32(v.getUint16(o + 208, true));
      for (let half = 0; half < 2; half++, y += 128) {
        const ql = o + 64 * half;
        const qh = o + 128 + 32 * half;
        const sc = o + 192 + 8 * half;
        for (let l = 0; l < 32; l++) {
          const is = l >> 4;
          const h = src[qh + l]!;
          const q1 = ((src[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
          const q2 = ((src[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
          const q3 = ((src[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
          const q4 = ((src[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
          dst[y + l] = d * v.getInt8(sc + is) * q1;
          dst[y + l + 32] = d * v.getInt8(sc + is + 2) * q2;
          dst[y + l + 64] = d * v.getInt8(sc + is + 4) * q3;
          dst[y + l + 96] = d * v.getInt8(sc + is + 6) * q4;
        }
      }
    }
  },
};

export const q8KCodec: QuantCodec = {
  type: GgmlType.Q8_K,
  quantize(src) {
    checkLength('Q8_K', src.length);
    const out = new Uint8Array(ggmlByteSize(GgmlType.Q8_K, src.length));
    const v = view(out);
    for (let b = 0; b < src.length / QK_K; b++) {
      const o = b * 292;
      const xo = b * QK_K;
      let max = 0;
      let amax = 0;
      for (let j = 0; j < QK_K; j++) {
        const ax = Math.abs(src[xo + j]!);
        if (ax > amax) {
          amax = ax;
          max = src[xo + j]!;
        }
      }
      if (!amax) continue; // d = 0, quants and sums 0
      const iscale = fr(-127 / max);
      for (let j = 0; j < QK_K; j++) v.setInt8(o + 4 + j, Math.min(127, nearestInt(fr(iscale * src[xo + j]!))));
      for (let j = 0; j < 16; j++) {
        let sum = 0;
        for (let ii = 0; ii < 16; ii++) sum += v.getInt8(o + 4 + 16 * j + ii);
        v.setInt16(o + 260 + 2 * j, sum, true);
      }
      v.setFloat32(o, fr(1 / iscale), true);
    }
    return out;
  },
  dequantize(src, start, n, dst, dstOffset = 0) {
    const v = view(src);
    for (let b = start / QK_K, y = dstOffset; y < dstOffset + n; b++, y += QK_K) {
      const o = b * 292;
      const d = v.getFloat32(o, true);
      for (let j = 0; j < QK_K; j++) dst[y + j] = d * v.getInt8(o + 4 + j);
    }
  },
};

/**
 * How hard the k-quant quantizers search for scales. 'reference' is ggml's quantize_row_q*_K_ref
 * (what the registered codecs use); 'fast' keeps only the initial fit (min/max for Q4_K/Q5_K,
 * one least-squares scale for Q6_K), which is 5–20× faster and somewhat less accurate. Both
 * produce valid blocks; use 'fast' for bulk synthetic weights.
 */
export type KQuantEffort = 'reference' | 'fast';

/** Quantizes `src` (length a multiple of 256) to Q4_K, Q5_K or Q6_K with the given effort. */
export function quantizeKQuant(type: GgmlType, src: Float32Array, effort: KQuantEffort): Uint8Array {
  switch (type) {
    case GgmlType.Q4_K: return quantizeQ4K(src, effort);
    case GgmlType.Q5_K: return quantizeQ5K(src, effort);
    case GgmlType.Q6_K: return quantizeQ6K(src, effort);
    default: throw new Error(`quantizeKQuant: ${GgmlType[type]} is not Q4_K, Q5_K or Q6_K`);
  }
}

registerCodec(q4KCodec);
registerCodec(q5KCodec);
registerCodec(q6KCodec);
registerCodec(q8KCodec);
