// Kernel tables: one per instruction set, chosen once at startup (see cpu-dispatch.cc).
//
// Each table is compiled in its own translation unit with its own -m flags (kernels-avx512.cc,
// kernels-avx2.cc, kernels-scalar.cc all include kernels-isa.inc). This header holds only plain
// declarations: no inline functions, so nothing compiled with AVX-512 can be merged by the linker
// into code that runs on a CPU without it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace peregrine {

/** Status codes returned across the N-API boundary; mirrored in src/kernels/native/native-status.ts. */
enum Status : int32_t {
  STATUS_OK = 0,
  STATUS_BAD_ARGUMENT = 1,
  STATUS_UNSUPPORTED_TYPE = 2,
  STATUS_OUT_OF_MEMORY = 3,
  STATUS_THREAD_START_FAILED = 4,
  STATUS_DISPOSED = 5,
};

/** The ggml type ids the native matmul understands (GgmlType in src/formats/ggml-type.ts). */
enum WeightType : int32_t {
  TYPE_F32 = 0,
  TYPE_F16 = 1,
  TYPE_Q4_0 = 2,
  TYPE_Q8_0 = 8,
  TYPE_Q4_K = 12,
  TYPE_Q5_K = 13,
  TYPE_Q6_K = 14,
  TYPE_BF16 = 30,
  TYPE_MXFP4 = 39,
  TYPE_NVFP4 = 40,
  TYPE_FP8_E4M3 = 1000,  // Peregrine's own id (src/formats/ggml-type.ts: PEREGRINE_TYPE_ID_BASE)
};

enum Isa : int32_t {
  ISA_SCALAR = 0,
  ISA_AVX2 = 1,
  ISA_AVX512 = 2,
  ISA_AVX512_BF16 = 3,
  ISA_AMX = 4,  // AVX-512-BF16 plus AMX int8 and bf16 tiles (Q8_0 / Q4_0 / packed Q4_K matmuls of 12+ tokens)
};

/** Rows per micro-kernel tile; matmul tasks are multiples of this many rows (except the last). */
constexpr int64_t kMatmulRowTile = 4;

/**
 * Packed Q4_0 / Q8_0 weights on the AVX-512 tables: rows in groups of kPackRows, and per group and
 * block the 16 row scales (f16) followed by the quants interleaved so that one 64-byte vector holds
 * the same 4 elements of all 16 rows; see packWeights in kernels-isa.inc. The AVX2 table packs
 * Q4_0 / Q8_0 the same way in groups of 8 rows (isa/matmul-packed8.inc), and Q4_K in groups of 8
 * (isa/matmul-kquant-packed8.inc): rowTile says which.
 */
constexpr int64_t kPackRows = 16;

/** Tokens per AMX tile: matmuls with per-thread scratch (matmulScratchBytes > 0) read the activations in whole tiles, zero-padded. */
constexpr int64_t kAmxTokens = 16;

/** Query tokens per attentionTileTask of the vector kernels (KernelTable::tiledAttentionTokens). */
constexpr int64_t kAttentionQueryTile = 16;

struct MatmulArgs {
  int32_t type;
  bool isPacked;  // w is in the packed layout (numRows rounded up to the table's rowTile)
  const uint8_t* w;  // [numRows, numCols] in `type` blocks, row-major, any alignment (or packed)
  int64_t numRows;
  int64_t numCols;
  const float* x;  // [numTokens, numCols] f32 (read only by prepareActivations)
  bool isSwiglu;  // x is [numTokens, 2 · numCols], each row gate then up, and the activations are swiglu(gate, up)
  bool isGeglu;  // as isSwiglu, the activations gelu(gate) · up (ggml's f16-table GELU, gelu.h)
  int64_t numTokens;
  float* out;  // [numTokens, numRows] f32
  uint8_t* act;  // [numTokens, activationBytes] the activations in the weight's dot type (ISA-private layout), 64-byte aligned
  size_t actStride;  // bytes per token in `act`
  // F16 weights of a shape llama.cpp's AMX buffer takes (numRows % 32 == 0, numCols % 16 == 0):
  // f32 activations (not f16-rounded) and 16 accumulation lanes over k ≡ lane (mod 16), then a
  // pairwise tree, as llama.cpp on an AMX CPU computes them; the reference backend does the same.
  bool isF16Lanes;
  // Float-weight tiles sum columns [colBegin, colEnd) only and, if isAccumulating, add to `out`:
  // the driver walks the columns in cache-sized chunks when there are many tokens.
  int64_t colBegin;
  int64_t colEnd;
  bool isAccumulating;
  // Q8_0 / Q4_0 / packed Q4_K batches may run in bf16 (AMX: bf16 activations × weights dequantized to bf16, f32
  // sums) instead of llama.cpp's Q8_0 arithmetic: the context's matmul precision 'bf16'
  bool isBf16Allowed;
};

/** KV cache element types, numbered as src/kernels/kv-cache-type.ts KV_CACHE_TYPES (kvTypeCode) */
enum KvType : int32_t {
  KV_F32 = 0,
  KV_F16 = 1,
  KV_BF16 = 2,
  KV_FP8 = 3,  // OCP E4M3 per value, no scale
  KV_Q8_0 = 4,  // llama.cpp's Q8_0 blocks (f16 scale, 32 int8) over the flat cache: value i is in block i / 32
};

/** values and bytes of a q8_0 KV block */
constexpr int64_t kKvQ8Block = 32;
constexpr int64_t kKvQ8BlockBytes = 34;

struct AttentionArgs {
  float* out;  // [numTokens, numHeads * headDim] f32
  const float* q;  // [numTokens, numHeads * headDim] f32
  const void* k;  // [numSlots, numKvHeads * headDim] values in kvType
  const void* v;  // [numSlots, numKvHeads * headDim] values in kvType
  // KvType of k and v. f16: Q is rounded to f16 before Q·K (as llama.cpp); f32: f32 throughout; bf16, fp8
  // and q8_0: K and V rows are widened to f32 as the kernels reach them, and attention is f32
  int32_t kvType;
  const int32_t* blockTable;  // [numLogicalBlocks] logical block -> physical block; token t's is blockTable + t * blockTableStride
  int64_t blockTableStride;  // 0: every token is of one sequence; else one block table per token (one-token queries of many sequences)
  int64_t blockSize;
  const int32_t* positions;  // [numTokens] query t attends to cache positions 0..positions[t]
  int64_t numTokens;
  int32_t numHeads;
  int32_t numKvHeads;
  int32_t headDim;
  float scale;
  // > 0: query t attends to positions (positions[t] - window, positions[t]] only (llama.cpp's
  // LLAMA_SWA_TYPE_STANDARD masks a key at p0 when p1 - p0 >= n_swa); Context::attention narrows
  // each token's key range, so the kernels never see masked keys
  int32_t window;
  // > 0: each score is softcap · tanh(q·k / softcap) before `scale` (llama.cpp's ggml_scale, ggml_tanh,
  // ggml_scale on KQ before soft_max_ext); only the per-token attentionTask applies it
  float softcap;
};

struct KernelTable {
  Isa isa;
  const char* name;
  /** bytes of activation scratch per token for a matmul with this weight type and width (a multiple of 64) */
  size_t (*activationBytes)(int32_t type, int64_t numCols, bool isPacked);
  /** converts tokens [t0, t1) of args.x into args.act */
  void (*prepareActivations)(const MatmulArgs& args, int64_t t0, int64_t t1);
  /** rows per matmul task unit for these weights: kMatmulRowTile, kPackRows for the 16-row kernels, 8 for AVX2's packed ones */
  int64_t (*rowTile)(int32_t type, int64_t numCols, bool isPacked);
  /** bytes of per-thread scratch matmulRows needs for this matmul (0: none) */
  size_t (*matmulScratchBytes)(int32_t type, int64_t numCols, int64_t numTokens);
  /** out[:, r0:r1] for every token; r0 is a multiple of rowTile(...); scratch: the calling thread's, 64-byte aligned */
  void (*matmulRows)(const MatmulArgs& args, int64_t r0, int64_t r1, uint8_t* scratch);
  /** bytes of the packed layout of a [numRows, numCols] matrix, or 0 if this table does not pack `type` */
  size_t (*packedBytes)(int32_t type, int64_t numRows, int64_t numCols);
  /** writes the packed layout of row-major `w` to `out` (packedBytes long) */
  void (*packWeights)(int32_t type, const uint8_t* w, int64_t numRows, int64_t numCols, uint8_t* out);
  /** out[0..numCols) = row `row` of packed weights, dequantized (for embedding lookups) */
  void (*dequantizePackedRow)(int32_t type, const uint8_t* packed, int64_t numCols, int64_t row, float* out);
  /** f32 scratch floats one attention task needs */
  size_t (*attentionScratchFloats)(int32_t numHeads, int32_t numKvHeads, int32_t headDim);
  /**
   * Query `token`, the heads of KV heads [kvHead0, kvHead1), over cache positions [keyBegin, keyEnd). With partial == nullptr
   * (the whole range 0..positions[token]) writes the output; otherwise writes the unnormalized
   * softmax state [numHeads] max, [numHeads] sum, [numHeads, headDim rounded up to 16] Σ p·v.
   */
  void (*attentionTask)(const AttentionArgs& args, int64_t token, int64_t keyBegin, int64_t keyEnd, int32_t kvHead0, int32_t kvHead1, float* scratch,
                        float* partial);
  /** whether attentionTileTask takes these arguments (many tokens; AVX-512) */
  bool (*isTiledAttention)(const AttentionArgs& args);
  /** f32 scratch floats one attentionTileTask needs */
  size_t (*tiledAttentionScratchFloats)(int32_t numHeads, int32_t numKvHeads, int32_t headDim);
  /** query tokens per attentionTileTask (its K/V preparation is shared by that many) */
  int64_t tiledAttentionTokens;
  /** tokens [t0, t1) (at most tiledAttentionTokens) × the query heads of KV head `kvHead`, over all their keys: writes the output */
  void (*attentionTileTask)(const AttentionArgs& args, int64_t t0, int64_t t1, int32_t kvHead, float* scratch);
  /**
   * One token's rope: each of numHeads heads of headDim floats at x has its pairs (x[2i], x[2i+1])
   * (isNeox: (x[i], x[i + half])), i < half, rotated by cs[i] = cos, cs[half + i] = sin: products
   * and sum in double, rounded once to f32 (the reference backend's arithmetic).
   */
  void (*ropeRotate)(float* x, const float* cs, int64_t half, int32_t numHeads, int32_t headDim, bool isNeox);
  /** out[i] = x[i] * scale * weight[i] (the second half of rmsNorm; out may alias x) */
  void (*scaleMul)(float* out, const float* x, float scale, const float* weight, int64_t n);
  /**
   * out[i] = silu(gate[i]) * up[i]; out may alias gate. As ggml on AVX-512: elements below
   * numVectorized use ggml_v_expf, the rest libm expf.
   */
  void (*swiglu)(float* out, const float* gate, const float* up, int64_t n, int64_t numVectorized);
  /** out[i] = a[i] + b[i]; out may alias a */
  void (*add)(float* out, const float* a, const float* b, int64_t n);
  /** dst[i] = f16(src[i]), round to nearest even */
  void (*toF16)(uint16_t* dst, const float* src, int64_t n);
  /** the first index of the largest x[i] (NaN never wins); 0 if nothing beats -inf */
  int64_t (*argmax)(const float* x, int64_t n);
};

/** The best instruction set this CPU (and OS) supports. */
Isa bestSupportedIsa();
/** The table for `isa`, or for the best supported one below it. */
const KernelTable* kernelsFor(Isa isa);

const KernelTable* scalarKernels();
const KernelTable* avx2Kernels();
const KernelTable* avx512Kernels();
const KernelTable* avx512Bf16Kernels();
const KernelTable* amxKernels();

}  // namespace peregrine
