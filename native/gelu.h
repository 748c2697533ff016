// GELU (tanh approximation) as llama.cpp's CPU backend computes it for GeGLU MLPs (Gemma):
// ggml builds with GGML_GELU_FP16, so gelu(x) for -10 < x < 10 is read from a table indexed by
// x rounded to f16, holding gelu of that f16 value computed in f32 and rounded to f16; x <= -10
// gives 0 and x >= 10 gives x. The reference backend (src/kernels/reference/gelu.ts) builds the
// same table.
#pragma once

#include <cstdint>

namespace peregrine {

/** out[i] = gelu(gate[i]) * up[i], ggml's ggml_vec_geglu_f32 with its f16 table; out may alias gate */
void geglu(float* out, const float* gate, const float* up, int64_t n);

}  // namespace peregrine
