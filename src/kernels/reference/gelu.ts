import { F16_TO_F32, f32ToF16 } from '../../quant/float16.js';

const fr = Math.fround;
const GELU_COEF_A = fr(0.044715);
const SQRT_2_OVER_PI = fr(0.79788456080286535587989211986876);

/** ggml's ggml_gelu_f32, in f32: 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))) */
export function geluF32(x: number): number {
  const inner = fr(fr(SQRT_2_OVER_PI * x) * fr(1 + fr(fr(GELU_COEF_A * x) * x)));
  return fr(fr(0.5 * x) * fr(1 + fr(Math.tanh(inner))));
}

/**
 * gelu of every f16 value, rounded to f16, indexed by the f16 bits: ggml's ggml_table_gelu_f16.
 * llama.cpp's CPU backend is built with GGML_GELU_FP16, so its GELU (and GeGLU) reads this table
 * for inputs in (-10, 10) rounded to f16 instead of computing the formula; Gemma's logits depend on it.
 */
export const GELU_F16_TABLE: Uint16Array = (() => {
  const table = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) table[i] = f32ToF16(geluF32(F16_TO_F32[i]!));
  return table;
})();

/** out[i] = gelu(gate[i]) · up[i] as ggml_vec_geglu_f32 with its f16 table (out may alias gate) */
export function geglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = gate[i]!;
    if (x <= -10) out[i] = 0;
    else if (x >= 10) out[i] = x * up[i]!;
    else out[i] = F16_TO_F32[GELU_F16_TABLE[f32ToF16(x)]!]! * up[i]!;
  }
}
