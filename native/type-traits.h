// The weight types the native kernels know, with their block layout and what runs on them: the
// one C++ list. Row sizes and "is this type supported" checks everywhere in native/ come from here.
// The addon reports this table (typeTraits()); src/kernels/native/type-traits.test.ts checks it
// against the TypeScript type table (src/formats/ggml-type.ts), type by type.
//
// Like scalar-math.h, everything is in an anonymous namespace (internal linkage), so each ISA's
// translation unit keeps its own copy.
#pragma once

#include <cstdint>

#include "kernels.h"

namespace peregrine {
namespace {

struct TypeTraits {
  WeightType type;
  const char* name;
  /** elements per block */
  int32_t blockSize;
  /** bytes per block */
  int32_t blockBytes;
  /** matmul on row-major (GGUF) weights */
  bool hasMatmul;
  /** embedding from row-major (GGUF) rows; without it only from a packed table */
  bool hasEmbedding;
};

constexpr TypeTraits kTypeTraits[] = {
    {TYPE_F32, "F32", 1, 4, true, true},
    {TYPE_F16, "F16", 1, 2, true, true},
    {TYPE_Q4_0, "Q4_0", 32, 18, true, true},
    {TYPE_Q8_0, "Q8_0", 32, 34, true, true},
    {TYPE_Q4_K, "Q4_K", 256, 144, true, false},
    {TYPE_Q5_K, "Q5_K", 256, 176, true, false},
    {TYPE_Q6_K, "Q6_K", 256, 210, true, false},
    {TYPE_BF16, "BF16", 1, 2, true, true},
    {TYPE_MXFP4, "MXFP4", 32, 17, true, false},
    {TYPE_NVFP4, "NVFP4", 64, 36, true, false},
    {TYPE_FP8_E4M3, "FP8_E4M3", 32, 33, true, false},
};

constexpr int32_t kNumTypeTraits = static_cast<int32_t>(sizeof(kTypeTraits) / sizeof(kTypeTraits[0]));

/** the traits of `type`, or nullptr when the native kernels do not know it */
constexpr const TypeTraits* typeTraits(int64_t type) {
  for (const TypeTraits& t : kTypeTraits) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

/** bytes of one row of numCols elements of a known type (numCols a multiple of its block size) */
constexpr int64_t typeRowBytes(int64_t type, int64_t numCols) {
  const TypeTraits* t = typeTraits(type);
  return t ? numCols / t->blockSize * t->blockBytes : 0;
}

/** bytes of one row of numCols elements, or -1 for an unknown type or a numCols that does not fit its blocks */
constexpr int64_t checkedRowBytes(int64_t type, int64_t numCols) {
  const TypeTraits* t = typeTraits(type);
  return t && numCols % t->blockSize == 0 ? numCols / t->blockSize * t->blockBytes : -1;
}

static_assert(typeRowBytes(TYPE_Q4_K, 512) == 288 && checkedRowBytes(TYPE_Q8_0, 40) == -1 && checkedRowBytes(3, 32) == -1, "type traits");

}  // namespace
}  // namespace peregrine
