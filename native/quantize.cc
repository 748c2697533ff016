// Row quantizers (quantize.h): each function is the C++ twin of the TypeScript one it names, step
// by step in the same precision. Where the TypeScript rounds to f32 after every operation
// (Math.fround), this is plain float arithmetic: f64 rounding of a single +, -, *, / or sqrt of two
// floats, then rounded to f32, gives the f32 result, so the two agree bit for bit as long as the
// compiler neither fuses a * b + c (no FMA on x86-64's baseline; -ffp-contract=off on arm64, see
// binding.gyp) nor reorders sums (no -ffast-math). Where the TypeScript keeps f64 (the MXFP4 /
// NVFP4 error sums, FP8's encoder) so does this. Plain scalar code: the compiler vectorizes what
// it can without changing results.
#include "quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "scalar-math.h"

namespace peregrine {
namespace {

constexpr int32_t kTypeQ5_0 = 6;  // a file type only (llama-quantize's fallback), not a WeightType of the kernels
constexpr int kQK = 256;
constexpr float kGroupMaxEps = 1e-15f;

/** k-quants.ts nearestInt: ggml's nearest_int (round half to even by adding 1.5 * 2^23), kept a float as there */
inline float nearestF(float x) { return (x + 12582912.f) - 12582912.f; }

/** Math.max(lo, Math.min(hi, l)) for an integer-valued float (NaN-free input) */
inline int clampLevel(float l, int lo, int hi) { return l < lo ? lo : l > hi ? hi : static_cast<int>(l); }

/** Math.max with NaN propagation */
inline float jsMax(float a, float b) { return std::isnan(a) || std::isnan(b) ? NAN : a > b ? a : b; }

/** max |x[j]| over n values, NaN skipped (the reference quantizers' `if (amax < a) amax = a`) */
inline float absMaxSkippingNan(const float* x, int n) {
  float amax = 0;
  for (int j = 0; j < n; j++) {
    const float a = std::fabs(x[j]);
    if (amax < a) amax = a;
  }
  return amax;
}

// ---- k-quants.ts -------------------------------------------------------------------------------

/** Math.max(lo, Math.min(hi, l)) for an integer-valued float, kept a float (vectorizes) */
inline float clampF(float l, float lo, float hi) { return l < lo ? lo : l > hi ? hi : l; }

/**
 * makeQkx2Quants on a k-quant block's 8 sub-blocks of 32 at once: lane j is x[32j, 32j + 32)
 * with weights[32j, ...), its levels go to L[32j, ...), its scale to scales[j] and -min to
 * negMins[j]. Each lane does the scalar function's arithmetic in its order (so its bytes); side by
 * side, the 8 serial f32 sums overlap instead of waiting on each other. Unlike the TypeScript this
 * evaluates a candidate equal to the one before it too: it cannot win, so nothing changes.
 */
void makeQkx2Quants8(int nmax, const float* x, const float* weights, uint8_t* L, float* scales, float* negMins, float rmin, float rdelta, int nstep) {
  constexpr int kN = 32, kLanes = 8;
  float xt[kN][kLanes], wt[kN][kLanes];  // [i][lane]
  for (int j = 0; j < kLanes; j++) {
    for (int i = 0; i < kN; i++) {
      xt[i][j] = x[kN * j + i];
      wt[i][j] = weights[kN * j + i];
    }
  }
  float min[kLanes], max[kLanes], sumW[kLanes], sumX[kLanes];
  for (int j = 0; j < kLanes; j++) {
    min[j] = max[j] = xt[0][j];
    sumW[j] = wt[0][j];
    sumX[j] = sumW[j] * xt[0][j];
  }
  for (int i = 1; i < kN; i++) {
    for (int j = 0; j < kLanes; j++) {
      const float xi = xt[i][j];
      min[j] = xi < min[j] ? xi : min[j];
      max[j] = xi > max[j] ? xi : max[j];
      sumW[j] = sumW[j] + wt[i][j];
      sumX[j] = sumX[j] + wt[i][j] * xi;
    }
  }
  bool isFlat[kLanes];
  float scale[kLanes], bestError[kLanes], iscale[kLanes];
  for (int j = 0; j < kLanes; j++) {
    if (min[j] > 0) min[j] = 0;
    isFlat[j] = max[j] == min[j];  // levels 0, scale 0 (the other lanes' arithmetic on it is discarded)
    iscale[j] = nmax / (max[j] - min[j]);
    scale[j] = 1 / iscale[j];
    bestError[j] = 0;
  }
  float best[kN][kLanes];
  for (int i = 0; i < kN; i++) {
    for (int j = 0; j < kLanes; j++) {
      const float l = clampF(nearestF(iscale[j] * (xt[i][j] - min[j])), 0, nmax);
      best[i][j] = l;
      const float diff = scale[j] * l + min[j] - xt[i][j];
      const float diff2 = diff * diff;
      bestError[j] = bestError[j] + wt[i][j] * diff2;
    }
  }
  float aux[kN][kLanes];
  for (int is = 0; is <= nstep; is++) {
    float sumL[kLanes] = {}, sumL2[kLanes] = {}, sumXL[kLanes] = {};
    for (int j = 0; j < kLanes; j++) iscale[j] = (rmin + rdelta * is + nmax) / (max[j] - min[j]);
    for (int i = 0; i < kN; i++) {
      for (int j = 0; j < kLanes; j++) {
        const float l = clampF(nearestF(iscale[j] * (xt[i][j] - min[j])), 0, nmax);
        aux[i][j] = l;
        const float wl = wt[i][j] * l;
        sumL[j] = sumL[j] + wl;
        sumL2[j] = sumL2[j] + wl * l;
        sumXL[j] = sumXL[j] + wl * xt[i][j];
      }
    }
    float D[kLanes], thisScale[kLanes], thisMin[kLanes], curError[kLanes] = {};
    for (int j = 0; j < kLanes; j++) {
      D[j] = sumW[j] * sumL2[j] - sumL[j] * sumL[j];
      const float fitScale = (sumW[j] * sumXL[j] - sumX[j] * sumL[j]) / D[j];
      const float fitMin = (sumL2[j] * sumX[j] - sumL[j] * sumXL[j]) / D[j];
      thisScale[j] = fitMin > 0 ? sumXL[j] / sumL2[j] : fitScale;
      thisMin[j] = fitMin > 0 ? 0 : fitMin;
    }
    for (int i = 0; i < kN; i++) {
      for (int j = 0; j < kLanes; j++) {
        const float diff = thisScale[j] * aux[i][j] + thisMin[j] - xt[i][j];
        const float diff2 = diff * diff;
        curError[j] = curError[j] + wt[i][j] * diff2;
      }
    }
    bool isWin[kLanes];
    bool isAnyWin = false;
    for (int j = 0; j < kLanes; j++) {
      isWin[j] = !isFlat[j] && D[j] > 0 && curError[j] < bestError[j];
      if (!isWin[j]) continue;
      isAnyWin = true;
      bestError[j] = curError[j];
      scale[j] = thisScale[j];
      min[j] = thisMin[j];
    }
    if (!isAnyWin) continue;
    for (int i = 0; i < kN; i++) {
      for (int j = 0; j < kLanes; j++) best[i][j] = isWin[j] ? aux[i][j] : best[i][j];
    }
  }
  for (int j = 0; j < kLanes; j++) {
    scales[j] = isFlat[j] ? 0 : scale[j];
    negMins[j] = -min[j];
    for (int i = 0; i < kN; i++) L[kN * j + i] = isFlat[j] ? 0 : static_cast<uint8_t>(best[i][j]);
  }
}

/**
 * makeQxQuants with isSearching (rmse_type 1: weights qw, or x² without) on `kLanes` groups of kN
 * side by side, as makeQkx2Quants8: lane j is x[kN·j, kN·j + kN) (qw likewise), its levels + nmax
 * go to L[kN·j, ...) and its scale to scales[j].
 */
template <int kN, int kLanes>
void makeQxQuantsLanes(int nmax, const float* x, const float* qw, int8_t* L, float* scales) {
  float xt[kN][kLanes], wt[kN][kLanes];
  for (int j = 0; j < kLanes; j++) {
    for (int i = 0; i < kN; i++) {
      const float xi = x[kN * j + i];
      xt[i][j] = xi;
      wt[i][j] = qw ? qw[kN * j + i] : xi * xi;
    }
  }
  float max[kLanes] = {}, amax[kLanes] = {};
  for (int i = 0; i < kN; i++) {
    for (int j = 0; j < kLanes; j++) {
      const float ax = std::fabs(xt[i][j]);
      max[j] = ax > amax[j] ? xt[i][j] : max[j];
      amax[j] = ax > amax[j] ? ax : amax[j];
    }
  }
  float iscale[kLanes], sumlx[kLanes] = {}, suml2[kLanes] = {};
  for (int j = 0; j < kLanes; j++) iscale[j] = -nmax / max[j];
  float best[kN][kLanes];
  for (int i = 0; i < kN; i++) {
    for (int j = 0; j < kLanes; j++) {
      const float l = clampF(nearestF(iscale[j] * xt[i][j]), -nmax, nmax - 1);
      best[i][j] = l;
      sumlx[j] = sumlx[j] + wt[i][j] * xt[i][j] * l;
      suml2[j] = suml2[j] + wt[i][j] * l * l;
    }
  }
  float scale[kLanes], bestFit[kLanes];
  for (int j = 0; j < kLanes; j++) {
    scale[j] = suml2[j] != 0 ? sumlx[j] / suml2[j] : 0;
    bestFit[j] = scale[j] * sumlx[j];
  }
  float aux[kN][kLanes];
  for (int is = -9; is <= 9; is++) {
    if (is == 0) continue;
    for (int j = 0; j < kLanes; j++) {
      iscale[j] = -(nmax + 0.1f * is) / max[j];
      sumlx[j] = 0;
      suml2[j] = 0;
    }
    for (int i = 0; i < kN; i++) {
      for (int j = 0; j < kLanes; j++) {
        const float l = clampF(nearestF(iscale[j] * xt[i][j]), -nmax, nmax - 1);
        aux[i][j] = l;
        sumlx[j] = sumlx[j] + wt[i][j] * xt[i][j] * l;
        suml2[j] = suml2[j] + wt[i][j] * l * l;
      }
    }
    bool isWin[kLanes];
    bool isAnyWin = false;
    for (int j = 0; j < kLanes; j++) {
      isWin[j] = suml2[j] > 0 && sumlx[j] * sumlx[j] > bestFit[j] * suml2[j];
      if (!isWin[j]) continue;
      isAnyWin = true;
      scale[j] = sumlx[j] / suml2[j];
      bestFit[j] = scale[j] * sumlx[j];
    }
    if (!isAnyWin) continue;
    for (int i = 0; i < kN; i++) {
      for (int j = 0; j < kLanes; j++) best[i][j] = isWin[j] ? aux[i][j] : best[i][j];
    }
  }
  for (int j = 0; j < kLanes; j++) {
    const bool isZero = amax[j] < kGroupMaxEps;
    scales[j] = isZero ? 0 : scale[j];
    for (int i = 0; i < kN; i++) L[kN * j + i] = static_cast<int8_t>(isZero ? 0 : static_cast<int>(best[i][j]) + nmax);
  }
}

/** makeQpQuants: x ≥ 0 ≈ scale · L, L[0..n) in [0, nmax] */
float makeQpQuants(int n, int nmax, const float* x, uint8_t* L, const float* w) {
  float max = 0;
  for (int i = 0; i < n; i++) max = jsMax(max, x[i]);
  if (max < kGroupMaxEps) {
    std::memset(L, 0, n);
    return 0;
  }
  float iscale = nmax / max;
  for (int i = 0; i < n; i++) L[i] = static_cast<uint8_t>(static_cast<int>(nearestF(iscale * x[i])));
  const float scale = 1 / iscale;
  float bestMse = 0;
  for (int i = 0; i < n; i++) {
    const float diff = x[i] - scale * L[i];
    bestMse = bestMse + w[i] * diff * diff;
  }
  for (int is = -4; is <= 4; is++) {
    if (is == 0) continue;
    const float iscaleIs = (0.1f * is + nmax) / max;
    const float scaleIs = 1 / iscaleIs;
    float mse = 0;
    for (int i = 0; i < n; i++) {
      const int l = std::min(nmax, static_cast<int>(nearestF(iscaleIs * x[i])));
      const float diff = x[i] - scaleIs * l;
      mse = mse + w[i] * diff * diff;
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; i++) {
    const int l = std::min(nmax, static_cast<int>(nearestF(iscale * x[i])));
    L[i] = static_cast<uint8_t>(l);
    sumlx = sumlx + w[i] * x[i] * l;
    suml2 = suml2 + w[i] * l * l;
  }
  for (int itry = 0; itry < 5; itry++) {
    int numChanged = 0;
    for (int i = 0; i < n; i++) {
      const float wi = w[i];
      float slx = sumlx - wi * x[i] * L[i];
      float sl2 = suml2 - wi * L[i] * L[i];
      if (slx > 0 && sl2 > 0) {
        const int newL = std::min(nmax, static_cast<int>(nearestF(x[i] * sl2 / slx)));
        if (newL != L[i]) {
          slx = slx + wi * x[i] * newL;
          sl2 = sl2 + wi * newL * newL;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<uint8_t>(newL);
            sumlx = slx;
            suml2 = sl2;
            numChanged++;
          }
        }
      }
    }
    if (!numChanged) break;
  }
  return suml2 > 0 ? sumlx / suml2 : 0;
}

/** scaleMinK4: sub-block j's 6-bit scale and min from a Q4_K/Q5_K block's 12 scale bytes */
inline void scaleMinK4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

/** writeScaleMinBlock: packs ls/lm and d/dmin into the block at `out`, requantizes x into L */
void writeScaleMinBlock(const float* x, uint8_t* out, int nmax, const uint8_t* ls, const uint8_t* lm, float d, float dmin, uint8_t* L) {
  uint8_t* s = out + 4;
  for (int j = 0; j < 8; j++) {
    if (j < 4) {
      s[j] = ls[j];
      s[j + 4] = lm[j];
    } else {
      s[j + 4] = static_cast<uint8_t>((ls[j] & 0xf) | ((lm[j] & 0xf) << 4));
      s[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      s[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
  const uint16_t dBits = f32ToF16(d);
  const uint16_t dminBits = f32ToF16(dmin);
  std::memcpy(out, &dBits, 2);  // little-endian, as every platform the addon builds for
  std::memcpy(out + 2, &dminBits, 2);
  const float dAll = f16ToF32(dBits);
  const float dminAll = f16ToF32(dminBits);
  for (int j = 0; j < 8; j++) {
    int sc, m;
    scaleMinK4(j, s, &sc, &m);
    const float dj = dAll * sc;
    if (dj == 0) continue;
    const float dm = dminAll * m;
    for (int ii = 0; ii < 32; ii++) L[32 * j + ii] = static_cast<uint8_t>(clampLevel(nearestF((x[32 * j + ii] + dm) / dj), 0, nmax));
  }
}

void packQ4KLevels(const uint8_t* L, uint8_t* out) {
  uint8_t* q = out + 16;
  for (int j = 0; j < kQK; j += 64, q += 32) {
    for (int l = 0; l < 32; l++) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
  }
}

void packQ5KLevels(const uint8_t* L, uint8_t* out) {
  uint8_t* qh = out + 16;
  uint8_t* ql = out + 48;
  int m1 = 1;
  int m2 = 2;
  for (int n = 0; n < kQK; n += 64, ql += 32) {
    for (int j = 0; j < 32; j++) {
      int l1 = L[n + j];
      if (l1 > 15) {
        l1 -= 16;
        qh[j] |= m1;
      }
      int l2 = L[n + j + 32];
      if (l2 > 15) {
        l2 -= 16;
        qh[j] |= m2;
      }
      ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
    }
    m1 <<= 2;
    m2 <<= 2;
  }
}

/** quantizeQ4K / quantizeQ5K (effort 'reference'): one block of 256 values into `out` (zeroed) */
void quantizeScaleMinBlock(const float* x, uint8_t* out, bool isQ5) {
  const int nmax = isQ5 ? 31 : 15;
  const float rmin = isQ5 ? -0.5f : -1.f;
  const int nstep = isQ5 ? 15 : 20;
  uint8_t L[kQK];
  float weights[kQK];
  float scales[8];
  float mins[8];
  float maxScale = 0;
  float maxMin = 0;
  for (int j = 0; j < 8; j++) {
    const float* xj = x + 32 * j;
    float sumX2 = 0;
    for (int l = 0; l < 32; l++) sumX2 = sumX2 + xj[l] * xj[l];
    const float avX = std::sqrt(sumX2 / 32);
    for (int l = 0; l < 32; l++) weights[32 * j + l] = avX + std::fabs(xj[l]);
  }
  makeQkx2Quants8(nmax, x, weights, L, scales, mins, rmin, 0.1f, nstep);
  for (int j = 0; j < 8; j++) {
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  const float invScale = maxScale > 0 ? 63 / maxScale : 0;
  const float invMin = maxMin > 0 ? 63 / maxMin : 0;
  uint8_t ls[8];
  uint8_t lm[8];
  for (int j = 0; j < 8; j++) {
    ls[j] = static_cast<uint8_t>(std::min(63, static_cast<int>(nearestF(invScale * scales[j])) & 0xff));
    lm[j] = static_cast<uint8_t>(std::min(63, static_cast<int>(nearestF(invMin * mins[j])) & 0xff));
  }
  writeScaleMinBlock(x, out, nmax, ls, lm, maxScale / 63, maxMin / 63, L);
  if (isQ5) packQ5KLevels(L, out);
  else packQ4KLevels(L, out);
}

/** quantizeScaleMinWeighted: one block of 256 values at column col0 of its row */
void quantizeScaleMinWeightedBlock(const float* x, const float* importance, uint8_t* out, bool isQ5) {
  const int nmax = isQ5 ? 31 : 15;
  uint8_t L[kQK];
  float weights[kQK];
  float scales[8];
  float mins[8];
  float sw[8];
  float sumX2 = 0;
  for (int l = 0; l < kQK; l++) sumX2 = sumX2 + x[l] * x[l];
  const float sigma2 = 2 * sumX2 / kQK;
  for (int j = 0; j < 8; j++) {
    const float* xj = x + 32 * j;
    float sumW = 0;
    for (int l = 0; l < 32; l++) {
      weights[32 * j + l] = importance[32 * j + l] * std::sqrt(sigma2 + xj[l] * xj[l]);
      sumW = sumW + weights[32 * j + l];
    }
    sw[j] = sumW;
  }
  makeQkx2Quants8(nmax, x, weights, L, scales, mins, -0.9f, 0.05f, 36);
  uint8_t ls[8];
  uint8_t lm[8];
  const float dBlock = makeQpQuants(8, 63, scales, ls, sw);
  const float mBlock = makeQpQuants(8, 63, mins, lm, sw);
  writeScaleMinBlock(x, out, nmax, ls, lm, dBlock, mBlock, L);
  if (isQ5) packQ5KLevels(L, out);
  else packQ4KLevels(L, out);
}

/** quantizeQ6K (effort 'reference', importance optional): one block into `out` (zeroed) */
void quantizeQ6KBlock(const float* x, const float* importance, uint8_t* out) {
  int8_t L[kQK];
  float scales[16];
  float maxScale = 0;
  float maxAbsScale = 0;
  makeQxQuantsLanes<16, 16>(32, x, importance, L, scales);
  for (int ib = 0; ib < 16; ib++) {
    if (std::fabs(scales[ib]) > maxAbsScale) {
      maxAbsScale = std::fabs(scales[ib]);
      maxScale = scales[ib];
    }
  }
  if (maxAbsScale < kGroupMaxEps) return;  // all-zero block: every byte stays 0
  const float iscale = -128 / maxScale;
  const uint16_t dBits = f32ToF16(1 / iscale);
  std::memcpy(out + 208, &dBits, 2);
  int8_t* sc = reinterpret_cast<int8_t*>(out + 192);
  for (int ib = 0; ib < 16; ib++) sc[ib] = static_cast<int8_t>(std::min(127, static_cast<int>(nearestF(iscale * scales[ib]))));
  const float dAll = f16ToF32(dBits);
  for (int j = 0; j < 16; j++) {
    const float d = dAll * sc[j];
    if (d == 0) continue;
    for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = static_cast<int8_t>(clampLevel(nearestF(x[16 * j + ii] / d), -32, 31) + 32);
  }
  for (int j = 0; j < kQK; j += 128) {
    uint8_t* ql = out + j / 2;
    uint8_t* qh = out + 128 + j / 4;
    for (int l = 0; l < 32; l++) {
      const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
      ql[l] = static_cast<uint8_t>((q1 & 0xf) | ((q3 & 0xf) << 4));
      ql[l + 32] = static_cast<uint8_t>((q2 & 0xf) | ((q4 & 0xf) << 4));
      qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
  }
}

// ---- codec.ts: Q8_0 -------------------------------------------------------------------------

/**
 * The Q8_0 codec (quantize_row_q8_0_ref): d = amax / 127 (a NaN propagates into amax, as
 * Math.max), id = 1/d where d is truthy; each value roundf(x · id), a non-finite product 0 (as
 * setInt8 stores it).
 */
void quantizeQ8_0Block(const float* x, uint8_t* out) {
  float amax = 0;
  for (int j = 0; j < 32; j++) amax = jsMax(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d != 0 && !std::isnan(d) ? 1 / d : 0;
  const uint16_t dBits = f32ToF16(d);
  std::memcpy(out, &dBits, 2);
  for (int j = 0; j < 32; j++) {
    const float v = x[j] * id;
    out[2 + j] = std::isfinite(v) ? static_cast<uint8_t>(static_cast<int32_t>(std::round(v))) : 0;
  }
}

// ---- importance-quantizers.ts: Q4_0 / Q5_0 ------------------------------------------------------

/** quantizeQx0Weighted: one row of numCols values, 8 blocks of 32 side by side (makeQxQuantsLanes) where there are 8 left */
void quantizeQx0WeightedRow(const float* x, int64_t numCols, const float* importance, uint8_t* out, bool isQ5) {
  float sumX2 = 0;
  for (int64_t j = 0; j < numCols; j++) sumX2 = sumX2 + x[j] * x[j];
  const float sigma2 = sumX2 / static_cast<float>(numCols);
  const int nmax = isQ5 ? 16 : 8;
  const int blockBytes = isQ5 ? 22 : 18;
  const int qs = isQ5 ? 6 : 2;
  float weights[kQK];
  int8_t levels[kQK];
  float scales[8];
  for (int64_t c = 0; c < numCols;) {
    const int numBlocks = numCols - c >= kQK ? 8 : 1;
    const float* xb = x + c;
    for (int j = 0; j < 32 * numBlocks; j++) weights[j] = importance[c + j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    if (numBlocks == 8) makeQxQuantsLanes<32, 8>(nmax, xb, weights, levels, scales);
    else makeQxQuantsLanes<32, 1>(nmax, xb, weights, levels, scales);
    for (int b = 0; b < numBlocks; b++, out += blockBytes) {
      const uint16_t dBits = f32ToF16(scales[b]);
      std::memcpy(out, &dBits, 2);
      uint32_t qh = 0;
      for (int j = 0; j < 16; j++) {
        const int l0 = levels[32 * b + j];
        const int l1 = levels[32 * b + j + 16];
        out[qs + j] = static_cast<uint8_t>((l0 & 0x0f) | ((l1 & 0x0f) << 4));
        qh |= (static_cast<uint32_t>(l0 >> 4) << j) | (static_cast<uint32_t>(l1 >> 4) << (j + 16));
      }
      if (isQ5) std::memcpy(out + 2, &qh, 4);
    }
    c += 32 * numBlocks;
  }
}

// ---- mxfp4.ts, nvfp4.ts -------------------------------------------------------------------------

constexpr int kKvalues[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/** nearestE2M1Code: the first code with the least f32 error |K·d − x| (K·d − x in f64, then rounded) */
inline int nearestE2M1Code(float x, double d) {
  int best = 0;
  float bestErr = std::fabs(static_cast<float>(kKvalues[0] * d - x));
  for (int q = 1; q < 16; q++) {
    const float err = std::fabs(static_cast<float>(kKvalues[q] * d - x));
    if (err < bestErr) {
      best = q;
      bestErr = err;
    }
  }
  return best;
}

/** the E8M0 exponent ggml picks for amax (quantize_row_mxfp4_ref, clamped) */
inline int mxfp4Exponent(float amax) {
  if (!(amax > 0)) return 0;
  const double e = std::floor(static_cast<double>(static_cast<float>(std::log2(static_cast<double>(amax))))) - 2 + 127;
  return e < 0 ? 0 : e > 255 ? 255 : static_cast<int>(e);
}

/** e8m0ToF32Half: 2^(e − 128), exact in f64 */
inline double e8m0Half(int e) { return std::ldexp(1.0, e - 128); }

/** f32ToUe4m3 */
int f32ToUe4m3(float value) {
  float x = value;
  if (!(x > 0)) return 0;
  if (x > 448) x = 448;
  const uint32_t bits = f32ToBits(x);
  const int fp32Exp = static_cast<int>((bits >> 23) & 0xff) - 127;
  const int fp32Man = static_cast<int>((bits >> 20) & 0x7);
  int exp = fp32Exp + 7;
  if (exp <= 0) {
    const int man = std::min(7, static_cast<int>(std::trunc(x * 512.f + 0.5f)));
    return man < 1 ? 0 : man;
  }
  if (exp >= 15) return 0x7e;
  int man = fp32Man + static_cast<int>((bits >> 19) & 1);
  if (man > 7) {
    man = 0;
    exp++;
    if (exp >= 15) return 0x7e;
  }
  return (exp << 3) | man;
}

/** ue4m3ToF32Half (UE4M3_HALF_TABLE), exact in f32 */
float ue4m3Half(int x) {
  if (x == 0 || x == 0x7f) return 0;
  const int exp = (x >> 3) & 0xf;
  const int man = x & 0x7;
  const double raw = exp == 0 ? man * std::ldexp(1.0, -9) : (1 + man / 8.0) * std::ldexp(1.0, exp - 7);
  return static_cast<float>(raw * 0.5);
}

/** e2m1Error: Σ w·(x − K[code]·d)² in f64, codes into `codes` */
double e2m1Error(const float* x, int n, const float* weights, double d, uint8_t* codes) {
  double err = 0;
  for (int j = 0; j < n; j++) {
    const int q = nearestE2M1Code(x[j], d);
    codes[j] = static_cast<uint8_t>(q);
    const double diff = x[j] - kKvalues[q] * d;
    err += weights[j] * diff * diff;
  }
  return err;
}

/**
 * nearestE2M1Code for 16 values at once (vectorizes across them), in f32: where K·d is exact in f32
 * (NVFP4's UE4M3 scales, 2^-10 ≤ d ≤ 224; MXFP4's 2^(e − 128) for e ≤ 252), f32's K·d − x rounds
 * as the f64 one rounded to f32 (where the f64 difference is inexact, x is too small against K·d
 * to move the f32 rounding).
 */
void nearestCodes16(const float* x, float d, uint8_t* codes) {
  constexpr int kN = 16;  // (GCC vectorizes this loop nest at 16, not at 32)
  float bestErr[kN];
  int best[kN];
  for (int j = 0; j < kN; j++) {
    bestErr[j] = std::fabs(x[j]);  // code 0: |0 · d − x|
    best[j] = 0;
  }
  for (int q = 1; q < 16; q++) {
    const float kd = static_cast<float>(kKvalues[q]) * d;
    for (int j = 0; j < kN; j++) {
      const float err = std::fabs(kd - x[j]);
      const bool isBetter = err < bestErr[j];
      best[j] = isBetter ? q : best[j];
      bestErr[j] = isBetter ? err : bestErr[j];
    }
  }
  for (int j = 0; j < kN; j++) codes[j] = static_cast<uint8_t>(best[j]);
}

/** e2m1Error for kN values (a multiple of 16) with nearestCodes16 (d as there) */
template <int kN>
double e2m1ErrorF(const float* x, const float* weights, float d, uint8_t* codes) {
  for (int j = 0; j < kN; j += 16) nearestCodes16(x + j, d, codes + j);
  double err = 0;
  for (int j = 0; j < kN; j++) {
    const double diff = x[j] - kKvalues[codes[j]] * static_cast<double>(d);
    err += weights[j] * diff * diff;
  }
  return err;
}

/** MXFP4's e2m1Error for a block of 32 at exponent e: in f32 where K·d is exact there (e ≤ 252) */
double mxfp4Error(const float* x, const float* weights, int e, uint8_t* codes) {
  if (e <= 252) return e2m1ErrorF<32>(x, weights, static_cast<float>(e8m0Half(e)), codes);
  return e2m1Error(x, 32, weights, e8m0Half(e), codes);
}

/** quantizeMxfp4: one block of 32 */
void quantizeMxfp4Block(const float* x, uint8_t* out) {
  const float amax = absMaxSkippingNan(x, 32);
  const int e = mxfp4Exponent(amax);
  const double d = e8m0Half(e);
  out[0] = static_cast<uint8_t>(e);
  for (int j = 0; j < 16; j++) out[1 + j] = static_cast<uint8_t>(nearestE2M1Code(x[j], d) | (nearestE2M1Code(x[16 + j], d) << 4));
}

/** quantizeMxfp4Weighted: one block of 32 with its columns' importance */
void quantizeMxfp4WeightedBlock(const float* x, const float* importance, uint8_t* out) {
  float amax = 0;
  for (int j = 0; j < 32; j++) amax = jsMax(amax, std::fabs(x[j]));
  const int e0 = mxfp4Exponent(amax);
  uint8_t codes[32];
  uint8_t bestCodes[32];
  int bestE = e0;
  double bestErr = mxfp4Error(x, importance, e0, bestCodes);
  for (const int e : {e0 - 1, e0 + 1}) {
    if (e < 0 || e > 255 || amax == 0) continue;
    const double err = mxfp4Error(x, importance, e, codes);
    if (err < bestErr) {
      bestErr = err;
      bestE = e;
      std::memcpy(bestCodes, codes, 32);
    }
  }
  out[0] = static_cast<uint8_t>(bestE);
  for (int j = 0; j < 16; j++) out[1 + j] = static_cast<uint8_t>(bestCodes[j] | (bestCodes[j + 16] << 4));
}

/** quantizeNvfp4: one block of 64 (four sub-blocks of 16) */
void quantizeNvfp4Block(const float* x, uint8_t* out) {
  for (int s = 0; s < 4; s++) {
    const float* xs = x + 16 * s;
    const float amax = absMaxSkippingNan(xs, 16);
    const int ue = f32ToUe4m3(amax / 6);
    out[s] = static_cast<uint8_t>(ue);
    uint8_t codes[16];
    nearestCodes16(xs, ue4m3Half(ue), codes);
    for (int j = 0; j < 8; j++) out[4 + 8 * s + j] = static_cast<uint8_t>(codes[j] | (codes[8 + j] << 4));
  }
}

/** quantizeNvfp4Weighted: one block of 64 with its columns' importance */
void quantizeNvfp4WeightedBlock(const float* x, const float* importance, uint8_t* out) {
  for (int s = 0; s < 4; s++) {
    const float* xs = x + 16 * s;
    const float* ws = importance + 16 * s;
    float amax = 0;
    for (int j = 0; j < 16; j++) amax = jsMax(amax, std::fabs(xs[j]));
    const int ue0 = f32ToUe4m3(amax / 6);
    uint8_t codes[16];
    uint8_t bestCodes[16];
    int bestUe = ue0;
    double bestErr = e2m1ErrorF<16>(xs, ws, ue4m3Half(ue0), bestCodes);
    for (const int ue : {ue0 - 2, ue0 - 1, ue0 + 1, ue0 + 2}) {
      if (ue < 1 || ue > 0x7e || ue0 == 0) continue;
      const double err = e2m1ErrorF<16>(xs, ws, ue4m3Half(ue), codes);
      if (err < bestErr) {
        bestErr = err;
        bestUe = ue;
        std::memcpy(bestCodes, codes, 16);
      }
    }
    out[s] = static_cast<uint8_t>(bestUe);
    for (int j = 0; j < 8; j++) out[4 + 8 * s + j] = static_cast<uint8_t>(bestCodes[j] | (bestCodes[j + 8] << 4));
  }
}

// ---- fp8.ts ---------------------------------------------------------------------------------------

/** y rounded to an integer, ties to even (|y| < 2^51), by adding 1.5 · 2^52 in f64 */
inline double roundHalfEven(double y) { return (y + 6755399441055744.0) - 6755399441055744.0; }

/**
 * f32ToE4m3, in f64 as there; the exponent and mantissa read from the f64's bits (exact, where the
 * TypeScript takes log2 and corrects it)
 */
int f32ToE4m3(double value) {
  if (std::isnan(value)) return 0x7f;
  const int sign = std::signbit(value) ? 0x80 : 0;
  const double a = std::fabs(value);
  if (a >= 448) return sign | 0x7e;
  if (a < 0x1p-6) return sign | static_cast<int>(roundHalfEven(a * 512));  // subnormal m/8 · 2^-6
  uint64_t bits;
  std::memcpy(&bits, &a, 8);
  int e = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  const uint64_t frac = bits & ((uint64_t{1} << 52) - 1);
  int m = static_cast<int>(frac >> 49);  // (a / 2^e − 1) · 8 rounded: the top 3 fraction bits, then the rest
  const uint64_t rest = frac & ((uint64_t{1} << 49) - 1);
  const uint64_t half = uint64_t{1} << 48;
  if (rest > half || (rest == half && (m & 1))) m++;
  if (m == 8) {
    m = 0;
    e++;
  }
  return sign | std::min(((e + 7) << 3) | m, 0x7e);
}

/** fp8BlockScale */
int fp8BlockScale(float amax) {
  if (!(amax > 0)) return 0;
  if (std::isinf(amax)) return 254;
  int e = static_cast<int>(std::ceil(std::log2(amax / 448.0)));
  if (448 * std::ldexp(1.0, e) < amax) e++;
  if (448 * std::ldexp(1.0, e - 1) >= amax) e--;
  return std::max(0, std::min(254, e + 127));
}

/** quantizeFp8: one block of 32 */
void quantizeFp8Block(const float* x, uint8_t* out) {
  const float amax = absMaxSkippingNan(x, 32);
  const int e = fp8BlockScale(amax);
  const double inv = std::ldexp(1.0, 127 - e);
  out[0] = static_cast<uint8_t>(e);
  for (int j = 0; j < 32; j++) out[1 + j] = static_cast<uint8_t>(f32ToE4m3(x[j] * inv));
}

struct QuantType {
  int32_t type;
  int32_t blockSize;
  int32_t blockBytes;
  /** one block, without importance (nullptr: only with) */
  void (*plain)(const float* x, uint8_t* out);
  /** one block with its columns' importance (nullptr: none) */
  void (*weighted)(const float* x, const float* importance, uint8_t* out);
};

constexpr QuantType kQuantTypes[] = {
    {TYPE_Q4_K, kQK, 144, [](const float* x, uint8_t* out) { quantizeScaleMinBlock(x, out, false); },
     [](const float* x, const float* w, uint8_t* out) { quantizeScaleMinWeightedBlock(x, w, out, false); }},
    {TYPE_Q5_K, kQK, 176, [](const float* x, uint8_t* out) { quantizeScaleMinBlock(x, out, true); },
     [](const float* x, const float* w, uint8_t* out) { quantizeScaleMinWeightedBlock(x, w, out, true); }},
    {TYPE_Q6_K, kQK, 210, [](const float* x, uint8_t* out) { quantizeQ6KBlock(x, nullptr, out); }, quantizeQ6KBlock},
    {TYPE_Q8_0, 32, 34, quantizeQ8_0Block, nullptr},
    {TYPE_Q4_0, 32, 18, nullptr, nullptr},  // rows (σ² per row): quantizeQx0WeightedRow
    {kTypeQ5_0, 32, 22, nullptr, nullptr},
    {TYPE_MXFP4, 32, 17, quantizeMxfp4Block, quantizeMxfp4WeightedBlock},
    {TYPE_NVFP4, 64, 36, quantizeNvfp4Block, quantizeNvfp4WeightedBlock},
    {TYPE_FP8_E4M3, 32, 33, quantizeFp8Block, nullptr},
};

const QuantType* quantType(int32_t type) {
  for (const QuantType& t : kQuantTypes) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

}  // namespace

int32_t quantizeBlockSize(int32_t type) {
  const QuantType* t = quantType(type);
  return t ? t->blockSize : 0;
}

int64_t quantizedBytes(int32_t type, int64_t n) {
  const QuantType* t = quantType(type);
  return t && n % t->blockSize == 0 ? n / t->blockSize * t->blockBytes : -1;
}

Status quantizeRows(int32_t type, const float* src, int64_t n, int64_t numCols, const float* importance, uint8_t* out) {
  const QuantType* t = quantType(type);
  if (!t || numCols <= 0 || numCols % t->blockSize != 0 || n % numCols != 0) return t ? STATUS_BAD_ARGUMENT : STATUS_UNSUPPORTED_TYPE;
  const bool isQx0 = type == TYPE_Q4_0 || type == kTypeQ5_0;
  if (importance ? !t->weighted && !isQx0 : !t->plain) return STATUS_UNSUPPORTED_TYPE;
  std::memset(out, 0, static_cast<size_t>(n / t->blockSize * t->blockBytes));
  const int64_t rowBytes = numCols / t->blockSize * t->blockBytes;
  for (int64_t row = 0; row < n; row += numCols, out += rowBytes) {
    const float* x = src + row;
    if (isQx0) {
      quantizeQx0WeightedRow(x, numCols, importance, out, type == kTypeQ5_0);
      continue;
    }
    for (int64_t c = 0; c < numCols; c += t->blockSize) {
      uint8_t* block = out + c / t->blockSize * t->blockBytes;
      if (importance) t->weighted(x + c, importance + c, block);
      else t->plain(x + c, block);
    }
  }
  return STATUS_OK;
}

}  // namespace peregrine
