// Row quantizers for `peregrine quantize`: the C++ twins of the TypeScript codecs in src/quant/
// (k-quants.ts, importance-quantizers.ts, mxfp4.ts, nvfp4.ts, fp8.ts), byte for byte. The
// TypeScript stays the reference; src/kernels/native/native-quantize.test.ts checks that both write
// the same bytes. Not covered: values so large (|x| above about 1e18, which only F32 and BF16 files
// can hold) that the k-quants' and Q4_0/Q5_0's sums of squares overflow to NaN, which the two carry
// differently; F16 inputs never get there.
#pragma once

#include <cstdint>

#include "kernels.h"

namespace peregrine {

/**
 * Quantizes src (rows of numCols values) to `type` into out (its ggml bytes): Q8_0, Q4_K, Q5_K,
 * Q6_K, MXFP4, NVFP4 and FP8_E4M3 as their codecs' quantize; with `importance` ([numCols], or nullptr)
 * Q4_0, Q5_0, Q4_K, Q5_K, Q6_K, MXFP4 and NVFP4 as their importance-weighted quantizers (FP8 has
 * none). numCols must be a multiple of the type's block size, n of numCols, and out must hold
 * quantizedBytes(type, n) bytes. STATUS_UNSUPPORTED_TYPE for any other type or combination.
 */
Status quantizeRows(int32_t type, const float* src, int64_t n, int64_t numCols, const float* importance, uint8_t* out);

/** the block size of a type quantizeRows may take (with or without importance), else 0 */
int32_t quantizeBlockSize(int32_t type);

/** bytes of n values of a type quantizeRows may take, else -1 */
int64_t quantizedBytes(int32_t type, int64_t n);

}  // namespace peregrine
