// A native context: the kernel table chosen for this CPU, one thread pool, and grow-once scratch
// buffers. Every op takes already validated arguments (see peregrine-addon.cc), splits its work
// over the pool and returns a Status; nothing here throws or allocates once the scratch buffers
// have reached their largest size.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels.h"
#include "thread-pool.h"
#include "weight-faulter.h"

namespace peregrine {

/** A 64-byte aligned buffer that only ever grows. */
class Scratch {
 public:
  Scratch() = default;
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  /** returns nullptr when the allocation fails */
  uint8_t* reserve(size_t bytes);
  /** what the last reserve returned (nullptr before any) */
  uint8_t* data() const { return data_; }

 private:
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

struct RopeArgs {
  float* x;  // [numTokens, numHeads, headDim] f32, rotated in place
  int64_t numTokens;
  int32_t numHeads;
  int32_t headDim;
  const int32_t* positions;  // [numTokens]
  bool isNeox;  // false: rotate (x[2i], x[2i+1]); true: rotate (x[i], x[i + numRotaryDims/2])
  int32_t numRotaryDims;
  double freqBase;
  double freqScale;
  const float* freqFactors;  // [numRotaryDims / 2] or nullptr
  float attnFactor;  // cos and sin multiplied by this (llama.cpp's attn_factor; 1: plain rope)
};

struct EmbeddingArgs {
  float* out;  // [numIds, numCols] f32
  int32_t type;
  bool isPacked;  // table is in the packed layout (packWeights)
  const uint8_t* table;  // [numRows, numCols] in `type` blocks
  int64_t numCols;
  const int32_t* ids;  // [numIds], each in [0, numRows)
  int64_t numIds;
};

struct StoreKvArgs {
  void* kCache;  // [numSlots, kvDim] values in kvType
  void* vCache;  // [numSlots, kvDim] values in kvType
  int32_t kvType;  // KvType (kernels.h); q8_0 needs kvDim % 32 == 0
  const float* k;  // [numTokens, kvDim] f32
  const float* v;  // [numTokens, kvDim] f32
  const int32_t* slotIds;  // [numTokens], each in [0, numSlots)
  int64_t numTokens;
  int64_t kvDim;
};

/** a matmul weight as Context::setReadAheadPlan takes it */
struct PlannedWeight {
  const uint8_t* w;
  int64_t bytes;
  int32_t type;
  bool isPacked;
  int64_t numRows, numCols;
};

class Context {
 public:
  /** nullptr if the pool cannot start; `kernels` must be one the CPU supports */
  static Context* create(const KernelTable* kernels, int32_t numThreads);
  ~Context();

  const KernelTable* kernels() const { return kernels_; }
  int32_t numThreads() const { return pool_->numThreads(); }

  Status matmul(const MatmulArgs& args);
  /** whether Q8_0 / Q4_0 batches may run in bf16 (MatmulArgs::isBf16Allowed) from now on */
  void setBf16Batches(bool isAllowed) { isBf16Allowed_ = isAllowed; }
  Status attention(const AttentionArgs& args);
  /** out = rmsNorm(x); with `residual`, x += residual first (x is then written) */
  Status rmsNorm(float* out, float* x, const float* residual, const float* weight, int64_t numTokens, int64_t dim, double eps);
  Status rope(const RopeArgs& args);
  Status embedding(const EmbeddingArgs& args);
  Status storeKv(const StoreKvArgs& args);
  Status add(float* out, const float* a, const float* b, int64_t n);
  /** in place, x[i] *= s */
  Status scale(float* x, int64_t n, float s);
  /** in place, x[i] = cap · tanh(x[i] / cap) (llama.cpp's soft-capping: scale by 1/cap, tanhf, scale by cap) */
  Status softcap(float* x, int64_t n, float cap);
  /** in place, x[t, i] += bias[i];  x: [numTokens, dim] */
  Status addBias(float* x, const float* bias, int64_t numTokens, int64_t dim);
  /** out[r] = argmax of row r of x ([numRows, rowLength]) */
  Status argmaxRows(int32_t* out, const float* x, int64_t numRows, int64_t rowLength);
  /**
   * kernels()->packWeights, on the calling thread: with the weight faulter ahead of it (faultInWeights)
   * there is no page fault left to share, and the pool's threads, waiting on one another, only
   * slowed the load on a busy machine
   */
  void packWeights(int32_t type, const uint8_t* w, int64_t numRows, int64_t numCols, uint8_t* out);
  /**
   * [data, data + bytes): fresh weight memory (page aligned) that packWeights calls are about to
   * fill from its start. A thread of its own faults it in meanwhile (WeightFaulter), skipping to
   * where the last packWeights into it ended when that is ahead. The memory must stay mapped until
   * forgetMemory names it; bytes 0: stop. False if the thread cannot start.
   */
  bool faultInWeights(uint8_t* data, int64_t bytes);
  /** reads one word of every 64-byte line of data on every thread (a memory bandwidth probe); their sum */
  uint64_t touchLines(const uint8_t* data, int64_t bytes);
  /**
   * The weights of a forward pass in the order it calls matmul (the last one followed by the
   * first). From now on, a matmul of a few tokens by plan[i] ends by having a worker read plan[i + 1]
   * into the caches (ThreadPool::readAhead, from the rows that worker will take first) while the
   * caller runs the small ops before that matmul. The weights must stay mapped while planned.
   * An empty plan turns this off. False if out of memory (the plan is then empty).
   */
  bool setReadAheadPlan(const PlannedWeight* plan, int64_t count);
  /**
   * Memory [begin, begin + bytes) is about to be freed: if the read ahead plan names any of it, the
   * read ahead stops (returning once no worker reads it) and the plan is dropped.
   */
  void forgetMemory(const void* begin, size_t bytes);

 private:
  /** values [first, first + n) of a KV cache of KvType `type` = src (f32), converted to the type */
  void storeKvRow(void* cache, int32_t type, int64_t first, const float* src, int64_t n);
  Context(const KernelTable* kernels, ThreadPool* pool) : kernels_(kernels), pool_(pool) {}
  Status tiledAttention(const AttentionArgs& args);
  int32_t matmulThreads(int64_t numRows, int64_t numCols, int64_t numTokens) const;
  /** A matmul's tasks: rows [bounds[t], bounds[t + 1]) for t < the count returned (at most kMaxMatmulTasks). */
  int64_t matmulTaskBounds(const MatmulArgs& args, int32_t threads, int64_t* bounds) const;
  static constexpr int64_t kMaxMatmulTasks = 4 * ThreadPool::kMaxThreads;
  /** a matmul of at most this many tokens is a decode step's: guided tasks, and the next weight read ahead */
  static constexpr int64_t kMaxDecodeTokens = 8;
  void readAheadAfter(const MatmulArgs& args);

  const KernelTable* const kernels_;
  ThreadPool* const pool_;
  PlannedWeight* readAheadPlan_ = nullptr;  // [readAheadCount_], malloc'd
  size_t readAheadCount_ = 0;
  size_t readAheadNext_ = 0;  // where the plan expects the next matmul
  WeightFaulter faulter_;  // faultInWeights' thread
  Scratch activations_;  // [numTokens, activationBytes] matmul activations in the weight's dot type
  Scratch matmul_;  // [numThreads, matmulScratchBytes] per-thread matmul staging (AMX)
  Scratch swigluRows_;  // [numThreads, numCols] f32: a row of swiglu(gate, up) on its way into the activations
  Scratch attention_;  // [numThreads, attentionScratchFloats] f32
  Scratch attentionPartials_;  // [pieces of split tokens, partial floats] f32, split-K softmax states
  Scratch attentionRanges_;  // [ranges, 4] int64: token, key begin, key end, partial index (or -1)
  // rope's [numTokens, numRotaryDims] f32 cos/sin table of the last call, and what it was for:
  // the q and k of every layer of a forward pass share it
  Scratch ropeTable_;
  Scratch ropeKey_;  // [numTokens] int32 positions, then [numRotaryDims / 2] f32 freqFactors
  int64_t ropeTokens_ = -1;  // -1: no table
  int32_t ropeDims_ = 0;
  double ropeBase_ = 0, ropeScale_ = 0;
  float ropeAttnFactor_ = 0;
  bool ropeHasFactors_ = false;
  bool isBf16Allowed_ = false;
};

}  // namespace peregrine
