import type { GgmlType } from '../formats/ggml-type.js';

/**
 * A 2-D weight matrix as stored in GGUF: `numRows` rows (output features) of `numCols` elements
 * (input features), row-major in ggml blocks, as read from the file. A backend takes it in with
 * uploadWeight and is then given the handle; the bytes stay the reader's.
 */
/** a weight matrix's type and shape, without its bytes */
export interface WeightShape {
  readonly type: GgmlType;
  readonly numRows: number;
  readonly numCols: number;
}

export interface WeightTensor extends WeightShape {
  readonly name: string;
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

/** a KV cache's element type: src/kernels/kv-cache-type.ts says what each stores and how attention reads it */
export type KvCacheType = 'f32' | 'f16' | 'bf16' | 'fp8' | 'q8_0';

declare const deviceBufferBrand: unique symbol;
declare const weightHandleBrand: unique symbol;
declare const kvLayerBrand: unique symbol;

/**
 * `length` f32 values in a backend's memory, made by its `allocate` (or a `view` of such a
 * buffer). Opaque: model code passes it to the backend's ops and reads it on the host only
 * through `read`. The CPU backends' buffers are Float32Arrays (zero cost), but nothing outside a
 * backend may rely on that; src/testing/opaque-backend.ts hands out buffers that are not.
 */
export interface DeviceBuffer {
  /** f32 elements */
  readonly length: number;
  readonly [deviceBufferBrand]?: never;
}

/**
 * A weight matrix a backend has taken in (`uploadWeight`): the shape of the WeightTensor it came
 * from; where its bytes live and in what layout is the backend's business.
 */
export interface WeightHandle {
  readonly name: string;
  readonly type: GgmlType;
  readonly numRows: number;
  readonly numCols: number;
  readonly [weightHandleBrand]?: never;
}

/** what an uploaded weight is for: a matmul's matrix, or an embedding table read row by row */
export type WeightUse = 'matmul' | 'embedding';

/** One layer of a backend's paged KV cache (KvCache.layer): the attention kernels' K and V. */
export interface KvLayerHandle {
  readonly dtype: KvCacheType;
  /** token slots per block */
  readonly blockSize: number;
  readonly [kvLayerBrand]?: never;
}

export interface KvCacheSpec {
  readonly numLayers: number;
  /** K (and V) values per token slot: numKvHeads · headDim */
  readonly kvDim: number;
  readonly numBlocks: number;
  /** token slots per block */
  readonly blockSize: number;
  readonly dtype: KvCacheType;
}

/**
 * The K and V tensors of every layer, in a backend's memory: per layer [numBlocks · blockSize,
 * kvDim] each, in `dtype` (f16 halves the memory, as llama.cpp's default; f32 keeps attention in
 * full precision; bf16, fp8 and q8_0: src/kernels/kv-cache-type.ts). Which blocks a sequence
 * owns is bookkeeping kept in src/cache. The owner disposes it (before its backend); a layer asked for after dispose() is a DisposedError.
 */
export interface KvCache extends Disposable {
  readonly spec: KvCacheSpec;
  /** numBlocks · blockSize */
  readonly numSlots: number;
  /** bytes of K and V over all layers */
  readonly byteSize: number;
  /** layer `layer`'s K and V, for storeKv and the attention kernels */
  layer(layer: number): KvLayerHandle;
  dispose(): void;
}

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
 * against `reference`. A backend owns its memory: activation buffers (DeviceBuffer, f32,
 * row-major, `numTokens` rows), uploaded weights (WeightHandle) and KV caches, each freed
 * explicitly (free, freeWeight, KvCache.dispose) or with the backend (dispose). Model code never
 * reads a buffer on the host except through `read` (the logits once per step, and hidden rows for
 * pooling), so a backend whose memory is elsewhere (a worker, a GPU) runs the same models. Kernels
 * never throw for numeric reasons and never allocate per call in a native backend.
 *
 * Numerics follow llama.cpp's CPU backend so that logits match it: a matmul first converts the
 * activations to the weight's dot type (BF16 → bf16, Q8_0/Q4_0 → Q8_0 blocks with an f16 scale,
 * Q4_K/Q5_K/Q6_K → Q8_K; F16 keeps f32 activations where llama.cpp's AMX buffer takes the weight),
 * then accumulates in f32. With an f16 KV cache, Q is rounded to f16 before Q·K (as
 * llama.cpp's f16 K·Q product does); with an f32 cache attention is f32 throughout; bf16, fp8 and
 * q8_0 caches are widened to f32 block by block inside the kernel (never a whole-cache copy) and
 * attended in f32.
 */
export interface KernelBackend extends Disposable {
  readonly name: string;
  /** whether batch matmuls run in bf16 (matmul precision bf16 asked for, and kernels for it on this CPU); false: the exact kernels above */
  readonly hasBf16Batches: boolean;

  // -- memory: every buffer, weight and KV cache below is owned by this backend ------------------

  /** a zeroed f32 buffer of `length` elements; the caller frees it (free) or lets dispose() take it */
  allocate(length: number): DeviceBuffer;
  /**
   * elements [offset, offset + length) of `buffer`, sharing its memory (writes through either are
   * seen by both); a view is never freed itself and is valid while `buffer` is
   */
  view(buffer: DeviceBuffer, offset: number, length: number): DeviceBuffer;
  /** copies `src` into `buffer` from element `offset` (default 0) */
  write(buffer: DeviceBuffer, src: Float32Array, offset?: number): void;
  /**
   * `buffer`'s values on the host, valid until the buffer is next written or freed. A CPU backend
   * returns the buffer's own memory (no copy), another backend a copy: one read per step (the
   * logits) is the design. The caller may edit the values (logit bias, masks) once no op will read
   * the buffer again (on a CPU backend the edits reach it); writing the buffer is `write`'s job.
   */
  read(buffer: DeviceBuffer): Float32Array;
  /** frees a buffer from allocate (not a view); freeing twice is harmless, using it after is a DisposedError where the backend can tell */
  free(buffer: DeviceBuffer): void;
  /**
   * Takes in a weight matrix once, at load, for `use` (default 'matmul'): the backend may copy it
   * into the layout it runs fastest (rows interleaved for SIMD, huge pages, device memory), after
   * which the caller may drop `w`'s bytes or reuse their buffer (the loader reads the next tensor
   * into it); a backend that uses them in place (the reference backend) returns `w` itself, and
   * any other handle holds no reference to `w.data`. Every matmul and embedding takes a handle from here.
   */
  uploadWeight(w: WeightTensor, use?: WeightUse): WeightHandle;
  /**
   * A hint, no effect on any result: the matmul weights uploaded next include these matrices (and
   * maybe more). A backend that copies weights into memory of its own may make that memory now and
   * fault it in while the caller reads the weights from the file.
   */
  reserveWeights?(matrices: readonly WeightShape[]): void;
  /** lets a weight's memory go; twice is harmless, a matmul by it afterwards is a DisposedError where the backend can tell */
  freeWeight(w: WeightHandle): void;
  /** a zeroed paged KV cache; the caller disposes it */
  allocateKvCache(spec: KvCacheSpec): KvCache;
  /**
   * Frees what the backend holds (threads, scratch, buffers, weights); any call after it is a
   * DisposedError (or the native backend's NativeKernelError DISPOSED); twice is harmless.
   */
  dispose(): void;

  // -- ops: activations are f32 DeviceBuffers, row-major; index arrays (ids, positions, slots,
  //    block tables) are host Int32Arrays the backend reads during the call -----------------------

  /**
   * A hint, no effect on any result: the weights a forward pass multiplies by, in the order it
   * calls matmul (the last followed by the first). A decode step reads each weight once, from
   * memory; the backend may read the next one into the caches while the small ops before its
   * matmul run. Weights passed here stay referenced until the next call (an empty list: none).
   */
  planReadAhead?(weights: readonly WeightHandle[]): void;
  /** out[t, r] = Σ_c w[r, c] · x[t, c];  x: [numTokens, numCols], out: [numTokens, numRows] */
  matmul(out: DeviceBuffer, w: WeightHandle, x: DeviceBuffer, numTokens: number): void;
  /**
   * matmul of swiglu(gate, up) = silu(gate) · up taken row by row (numCols elements each), without
   * storing it whole: the same numbers as swiglu into a buffer, then matmul. gateUp: [numTokens,
   * 2 · numCols], each row the gate's numCols values, then up's (a matmul by stacked gate and up rows)
   */
  matmulSwiglu(out: DeviceBuffer, w: WeightHandle, gateUp: DeviceBuffer, numTokens: number): void;
  /**
   * matmulSwiglu with gelu(gate) · up instead (GeGLU, Gemma): GELU's tanh form read, as llama.cpp's
   * CPU backend reads it, from a table of f16 inputs (reference/gelu.ts)
   */
  matmulGeglu(out: DeviceBuffer, w: WeightHandle, gateUp: DeviceBuffer, numTokens: number): void;
  /** out[t, :] = table[ids[t], :] dequantized; out: [ids.length, numCols]; table uploaded for 'embedding' */
  embedding(out: DeviceBuffer, table: WeightHandle, ids: Int32Array): void;
  /** out[t, :] = x[t, :] / rms(x[t, :]) · weight;  x, out: [numTokens, dim] (may alias), weight: [dim] */
  rmsNorm(out: DeviceBuffer, x: DeviceBuffer, weight: DeviceBuffer, numTokens: number, eps: number): void;
  /** x += residual (as `add`), then out = rmsNorm(x): the residual stream's update and the next norm in one pass */
  addRmsNorm(out: DeviceBuffer, x: DeviceBuffer, residual: DeviceBuffer, weight: DeviceBuffer, numTokens: number, eps: number): void;
  /** in place; x: [numTokens, numHeads, headDim]; positions: [numTokens] */
  rope(x: DeviceBuffer, numTokens: number, numHeads: number, headDim: number, positions: Int32Array, params: RopeParams): void;
  /** writes k, v ([numTokens, kvDim] f32) into the cache slots given by slotIds ([numTokens]) */
  storeKv(kv: KvLayerHandle, k: DeviceBuffer, v: DeviceBuffer, slotIds: Int32Array, numTokens: number): void;
  /**
   * Causal attention for one sequence, whose block table (logical block → physical block of `kv`)
   * is `blockTable`: query t attends to cache positions 0..positions[t] (the last shape.window of
   * them with a window), scores soft-capped when shape.softcap is set.
   * q, out: [numTokens, numHeads * headDim]
   */
  attention(out: DeviceBuffer, q: DeviceBuffer, kv: KvLayerHandle, blockTable: Int32Array, positions: Int32Array, numTokens: number, shape: AttentionShape): void;
  /**
   * One query token from each of numTokens sequences (a decode step): query t attends to positions
   * 0..positions[t] of the sequence whose block table is row t of `blockTables`
   * ([numTokens, blockTableStride]). The same numbers as `attention` on each token alone.
   */
  attentionBatch(
    out: DeviceBuffer,
    q: DeviceBuffer,
    kv: KvLayerHandle,
    blockTables: Int32Array,
    blockTableStride: number,
    positions: Int32Array,
    numTokens: number,
    shape: AttentionShape,
  ): void;
  /** out[i] = a[i] + b[i] (out may alias a) */
  add(out: DeviceBuffer, a: DeviceBuffer, b: DeviceBuffer, n: number): void;
  /** in place, x[i] *= s for i < n (f32, as ggml_scale) */
  scale(x: DeviceBuffer, n: number, s: number): void;
  /** in place, x[i] = tanh(x[i] · (1/cap)) · cap for i < n (f32, as llama.cpp's soft-capping: ggml_scale, ggml_tanh, ggml_scale) */
  softcap(x: DeviceBuffer, n: number, cap: number): void;
  /** in place, x[t, i] += bias[i] (f32, as ggml_add broadcasts a bias);  x: [numTokens, bias.length] */
  addBias(x: DeviceBuffer, bias: DeviceBuffer, numTokens: number): void;
  /** out[r] = the first index of the largest value of row r of x ([numRows, rowLength]); NaN never wins, 0 if nothing beats -Infinity */
  argmaxRows(out: Int32Array, x: DeviceBuffer, numRows: number, rowLength: number): void;
  /**
   * A block of columns copied row by row: for r < numRows, dst[dstOffset + r · dstStride + i] =
   * src[srcOffset + r · srcStride + i], i < rowLength (a stacked matmul's output split into its
   * parts, or parts' outputs laid side by side). dst and src do not overlap.
   */
  copyRows(dst: DeviceBuffer, dstOffset: number, dstStride: number, src: DeviceBuffer, srcOffset: number, srcStride: number, numRows: number, rowLength: number): void;
  /** out[i, :] = x[rows[i], :];  x: [*, rowLength], out: [rows.length, rowLength] (no overlap) */
  gatherRows(out: DeviceBuffer, x: DeviceBuffer, rows: Int32Array, rowLength: number): void;
}
