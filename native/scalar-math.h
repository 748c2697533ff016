// Scalar float helpers shared by every translation unit. Everything here is `static inline`
// (internal linkage), so each ISA's copy stays inside the object compiled with its own flags.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace peregrine {
namespace {

inline float bitsToF32(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint32_t f32ToBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

/** IEEE half → float (exact). */
inline float f16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    // zero or subnormal: mant * 2^-24
    const float m = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return sign ? -m : m;
  }
  if (exp == 31) return bitsToF32(sign | 0x7f800000 | (mant << 13));
  return bitsToF32(sign | ((exp + 112) << 23) | (mant << 13));
}

/** float → IEEE half bits, round to nearest even (as F16C and src/quant/float16.ts do). */
inline uint16_t f32ToF16(float value) {
  const uint32_t x = f32ToBits(value);
  const uint32_t sign = (x >> 16) & 0x8000;
  const int32_t exp = static_cast<int32_t>((x >> 23) & 0xff);
  uint32_t mant = x & 0x7fffff;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 : 0));
  int32_t e = exp - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000;
    const int32_t shift = 14 - e;
    const uint32_t half = 1u << (shift - 1);
    uint32_t r = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    if (rem > half || (rem == half && (r & 1))) r++;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = mant >> 13;
  const uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) {
    r++;
    if (r == 0x400) {
      r = 0;
      e++;
      if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00);
    }
  }
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(e) << 10) | r);
}

inline float roundToF16(float x) { return f16ToF32(f32ToF16(x)); }

/**
 * float → OCP E4M3 byte as src/quant/fp8.ts f32ToE4m3: nearest, ties to even (the default rounding
 * mode), saturating at ±448; NaN → 0x7F.
 */
inline uint8_t f32ToE4m3(float value) {
  if (std::isnan(value)) return 0x7f;
  const int sign = std::signbit(value) ? 0x80 : 0;
  const float a = std::fabs(value);
  if (a >= 448.0f) return static_cast<uint8_t>(sign | 0x7e);
  if (a < 0.015625f) return static_cast<uint8_t>(sign | static_cast<int>(std::nearbyint(a * 512.0f)));  // subnormal m/8 · 2^-6
  int e = 0;
  std::frexp(a, &e);  // a = f · 2^e, f in [0.5, 1)
  e -= 1;  // 2^e ≤ a < 2^(e + 1)
  int m = static_cast<int>(std::nearbyint((std::ldexp(a, -e) - 1.0f) * 8.0f));  // exact until the rounding
  if (m == 8) {
    m = 0;
    e++;
  }
  const int code = ((e + 7) << 3) | m;
  return static_cast<uint8_t>(sign | (code < 0x7e ? code : 0x7e));
}

inline float bf16ToF32(uint16_t h) { return bitsToF32(static_cast<uint32_t>(h) << 16); }

/** float → bfloat16 bits, round to nearest even; NaN stays a quiet NaN. */
inline uint16_t f32ToBf16(float value) {
  const uint32_t x = f32ToBits(value);
  if ((x & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((x >> 16) | 64);
  return static_cast<uint16_t>((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}

inline float roundToBf16(float x) { return bf16ToF32(f32ToBf16(x)); }

inline uint16_t loadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

inline float loadF32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

/** round half to even under the default rounding mode (like _mm256_round_ps / cvtps2dq) */
inline int32_t roundHalfEven(float x) { return static_cast<int32_t>(std::nearbyint(x)); }

}  // namespace
}  // namespace peregrine
