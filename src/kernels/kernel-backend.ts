import type { GgmlType } from '../formats/ggml-type.js';

/**
 * A 2-D weight matrix as stored in GGUF: `numRows` rows (output features) of `numCols` elements
 * (input features), row-major in ggml blocks. The bytes are owned by the model that loaded them.
 */
export interface WeightTensor {
  readonly name: string;
  readonly type: GgmlType;
  readonly numRows: number;
  readonly numCols: number;
  /** [numRows, numCols] in `type` blocks */
  readonly data: Uint8Array;
}

export interface RopeParams {
  /** 'norm' rotates adjacent pairs (x[2i], x[2i+1]) as GGUF llama does; 'neox' rotates (x[i], x[i + d/2]) */
  readonly mode: 'norm' | 'neox';
  /** rotated dimensions per head (≤ headDim) */
  readonly numRotaryDims: number;
  readonly freqBase: number;
  readonly freqScale: number;
  /** per-pair divisors (llama3 rope scaling, Phi-3's LongRoPE factors), length numRotaryDims / 2 */
  readonly freqFactors?: Float32Array | undefined;
  /**
   * cos and sin are multiplied by this (llama.cpp's attn_factor, ggml's mscale: Phi-3's LongRoPE
   * `rope.scaling.attn_factor`), so the rotated dimensions of q and k grow by it; default 1
   */
  readonly attnFactor?: number;
}

export type KvCacheType = 'f16' | 'f32';

/**
 * One layer's paged KV cache: [numSlots, numKvHeads * headDim] per tensor, in blocks of
 * `blockSize` token slots. f16 (the default, as llama.cpp) halves the memory; f32 keeps attention
 * in full precision.
 */
export type KvLayer =
  | { readonly dtype: 'f16'; /** f16 bits */ readonly k: Uint16Array; readonly v: Uint16Array; readonly blockSize: number }
  | { readonly dtype: 'f32'; readonly k: Float32Array; readonly v: Float32Array; readonly blockSize: number };

/** One sequence's view of a layer's KV cache: the layer and the sequence's block table (logical block → physical block). */
export type KvView = KvLayer & { readonly blockTable: Int32Array };

export interface AttentionShape {
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  /** softmax scale, usually 1/sqrt(headDim) */
  readonly scale: number;
  /**
   * a query at position p attends to positions (p - window, p] only (Mistral, Gemma 2/3 local
   * layers; llama.cpp's LLAMA_SWA_TYPE_STANDARD); absent: to every position up to p
   */
  readonly window?: number | undefined;
  /** each score becomes softcap · tanh(q·k / softcap), then × scale (Gemma 2's attention soft-capping); absent: none */
  readonly softcap?: number | undefined;
}

/**
 * The kernel interface every backend implements; one conformance suite checks all of them
 * against `reference`. Activations are f32, row-major, `numTokens` rows. Kernels never throw
 * for numeric reasons and never allocate per call in a native backend.
 *
 * Numerics follow llama.cpp's CPU backend so that logits match it: a matmul first converts the
 * activations to the weight's dot type (BF16 → bf16, Q8_0/Q4_0 → Q8_0 blocks with an f16 scale,
 * Q4_K/Q5_K/Q6_K → Q8_K; F16 keeps f32 activations where llama.cpp's AMX buffer takes the weight),
 * then accumulates in f32. With an f16 KV cache, Q is rounded to f16 before Q·K (as
 * llama.cpp's f16 K·Q product does); with an f32 cache attention is f32 throughout.
 */
export interface KernelBackend {
  readonly name: string;
  /**
   * Called once per matmul weight at load: returns the weight in the layout this backend runs
   * fastest (e.g. rows interleaved for SIMD); the model then keeps only the returned tensor.
   * Prepared weights go to matmul only, never to embedding.
   */
  prepareWeight?(w: WeightTensor): WeightTensor;
  /**
   * A hint, no effect on any result: the weights a forward pass multiplies by, in the order it
   * calls matmul (the last followed by the first). A decode step reads each weight once, from
   * memory; the backend may read the next one into the caches while the small ops before its
   * matmul run. Weights passed here stay referenced until the next call (an empty list: none).
   */
  planReadAhead?(weights: readonly WeightTensor[]): void;
  /** out[t, r] = Σ_c w[r, c] · x[t, c];  x: [numTokens, numCols], out: [numTokens, numRows] */
  matmul(out: Float32Array, w: WeightTensor, x: Float32Array, numTokens: number): void;
  /**
   * matmul of swiglu(gate, up) = silu(gate) · up taken row by row (numCols elements each), without
   * storing it whole: the same numbers as swiglu into a buffer, then matmul. gateUp: [numTokens,
   * 2 · numCols], each row the gate's numCols values, then up's (a matmul by stacked gate and up rows)
   */
  matmulSwiglu(out: Float32Array, w: WeightTensor, gateUp: Float32Array, numTokens: number): void;
  /**
   * matmulSwiglu with gelu(gate) · up instead (GeGLU, Gemma): GELU's tanh form read, as llama.cpp's
   * CPU backend reads it, from a table of f16 inputs (reference/gelu.ts)
   */
  matmulGeglu(out: Float32Array, w: WeightTensor, gateUp: Float32Array, numTokens: number): void;
  /** out[t, :] = table[ids[t], :] dequantized; out: [ids.length, numCols] */
  embedding(out: Float32Array, table: WeightTensor, ids: Int32Array): void;
  /** out[t, :] = x[t, :] / rms(x[t, :]) · weight;  x, out: [numTokens, dim] (may alias) */
  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, numTokens: number, eps: number): void;
  /** x += residual (as `add`), then out = rmsNorm(x): the residual stream's update and the next norm in one pass */
  addRmsNorm(out: Float32Array, x: Float32Array, residual: Float32Array, weight: Float32Array, numTokens: number, eps: number): void;
  /** in place; x: [numTokens, numHeads, headDim]; positions: [numTokens] */
  rope(x: Float32Array, numTokens: number, numHeads: number, headDim: number, positions: Int32Array, params: RopeParams): void;
  /** writes k, v ([numTokens, kvDim] f32) into the cache slots given by slotIds ([numTokens]) */
  storeKv(kv: KvLayer, k: Float32Array, v: Float32Array, slotIds: Int32Array, numTokens: number): void;
  /**
   * Causal attention for one sequence: query t attends to cache positions 0..positions[t] (the
   * last shape.window of them with a window), scores soft-capped when shape.softcap is set.
   * q, out: [numTokens, numHeads * headDim]
   */
  attention(out: Float32Array, q: Float32Array, kv: KvView, positions: Int32Array, numTokens: number, shape: AttentionShape): void;
  /**
   * One query token from each of numTokens sequences (a decode step): query t attends to positions
   * 0..positions[t] of the sequence whose block table is row t of `blockTables`
   * ([numTokens, blockTableStride]). The same numbers as `attention` on each token alone.
   */
  attentionBatch(
    out: Float32Array,
    q: Float32Array,
    kv: KvLayer,
    blockTables: Int32Array,
    blockTableStride: number,
    positions: Int32Array,
    numTokens: number,
    shape: AttentionShape,
  ): void;
  /** out[i] = a[i] + b[i] (out may alias a) */
  add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void;
  /** in place, x[i] *= s for i < n (f32, as ggml_scale) */
  scale(x: Float32Array, n: number, s: number): void;
  /** in place, x[i] = tanh(x[i] · (1/cap)) · cap for i < n (f32, as llama.cpp's soft-capping: ggml_scale, ggml_tanh, ggml_scale) */
  softcap(x: Float32Array, n: number, cap: number): void;
  /** in place, x[t, i] += bias[i] (f32, as ggml_add broadcasts a bias);  x: [numTokens, bias.length] */
  addBias(x: Float32Array, bias: Float32Array, numTokens: number): void;
  /** out[r] = the first index of the largest value of row r of x ([numRows, rowLength]); NaN never wins, 0 if nothing beats -Infinity */
  argmaxRows(out: Int32Array, x: Float32Array, numRows: number, rowLength: number): void;
}
