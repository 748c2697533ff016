#include "gelu.h"

#include <cmath>

#include "scalar-math.h"

namespace peregrine {

namespace {

// ggml's constants and f32 formula: 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²)))
float geluF32(float x) {
  const float kGeluCoefA = 0.044715f;
  const float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  const float inner = kSqrt2OverPi * x * (1.0f + kGeluCoefA * x * x);
  return 0.5f * x * (1.0f + std::tanh(inner));
}

/** [65536] f16 bits: gelu of each f16 value, rounded to f16 (built once, on first use) */
const uint16_t* geluTable() {
  static const uint16_t* table = [] {
    static uint16_t t[1 << 16];
    for (uint32_t i = 0; i < (1u << 16); i++) t[i] = f32ToF16(geluF32(f16ToF32(static_cast<uint16_t>(i))));
    return t;
  }();
  return table;
}

}  // namespace

void geglu(float* out, const float* gate, const float* up, int64_t n) {
  const uint16_t* table = geluTable();
  for (int64_t i = 0; i < n; i++) {
    const float x = gate[i];
    if (x <= -10.0f) out[i] = 0.0f;
    else if (x >= 10.0f) out[i] = x * up[i];
    else out[i] = f16ToF32(table[f32ToF16(x)]) * up[i];
  }
}

}  // namespace peregrine
