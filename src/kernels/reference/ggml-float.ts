/**
 * float32 arithmetic exactly as ggml's x86 CPU kernels do it, so that the reference backend
 * reproduces llama.cpp bit for bit where that matters: activation quantization to Q8_0 turns
 * any 1-ulp difference upstream into a different int8, which moves logits by ~1e-3.
 */
const fround = Math.fround;
const nudge = new Float32Array(1);
const nudgeBits = new Int32Array(nudge.buffer);

/**
 * fmaf(a, b, c) for float32 inputs whose exact product fits a double (always true for
 * float32 × float32): one rounding to float32.
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = fround(s);
  if (r === s) return r;
  const bv = s - p;
  const e = p - (s - bv) + (c - bv); // TwoSum: s + e == p + c exactly
  if (e === 0) return r;
  // s is p + c rounded to double; only an exact f32 midpoint can then round the wrong way
  nudge[0] = r;
  nudgeBits[0]! += s > r === r > 0 ? 1 : -1;
  const other = nudge[0]!;
  if (s - r === other - s) return e > 0 === other > r ? other : r;
  return r;
}

// ggml_v_expf (ggml-cpu/vec.h, AVX-512 branch): a degree-5 polynomial after range reduction
const EXP_ROUND = 12582912.0;
const LOG2E = fround(1.4426950216293335);
const LN2_HI = fround(0.693145751953125);
const LN2_LO = fround(1.428606765330187e-6);
const C5 = fround(0.008247390389442444);
const C4 = fround(0.04189976677298546);
const C3 = fround(0.16668395698070526);
const C2 = fround(0.4999912679195404);
const C1 = fround(0.9999994039535522);

/** ggml's vectorized expf */
export function ggmlExpf(x: number): number {
  const z = fmaf(x, LOG2E, EXP_ROUND);
  const n = fround(z - EXP_ROUND);
  const b = fmaf(-n, LN2_LO, fmaf(-n, LN2_HI, x));
  const u = fround(b * b);
  const j = fmaf(fmaf(fmaf(C5, b, C4), u, fmaf(C3, b, C2)), u, fmaf(C1, b, 1));
  if (Math.abs(n) > 192) return n <= 0 ? 0 : Infinity;
  return fround(j * 2 ** n);
}

/** ggml's vectorized silu: x / (1 + e^-x) */
export function ggmlSilu(x: number): number {
  return fround(x / fround(1 + ggmlExpf(fround(-x))));
}

/** ggml_silu_f32 (scalar tail): libm expf, which Math.exp rounded to f32 matches */
export function scalarSilu(x: number): number {
  return fround(x / fround(1 + fround(Math.exp(-x))));
}

/** SIMD width of ggml's vectorized loops on AVX-512; elements past the last full chunk take the scalar path */
export const GGML_VEC_WIDTH = 16;
