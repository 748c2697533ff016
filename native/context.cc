#include "context.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "gelu.h"
#include "scalar-math.h"
#include "type-traits.h"

namespace peregrine {

namespace {

// Below this many multiply-adds (or elements for elementwise ops) an op runs on the calling
// thread alone: waking the pool would cost more than it saves.
constexpr int64_t kMinParallelWork = 1 << 16;
constexpr int64_t kMinParallelElements = 1 << 15;
// Attention calls of at most kMaxSplitTokens tokens take a token's keys in pieces of about
// kSplitKeys positions, at most kMaxSplits of them.
constexpr int64_t kSplitKeys = 256;
constexpr int64_t kMaxSplits = 16;
constexpr int64_t kMaxSplitTokens = 64;

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline size_t roundUp64(size_t n) { return (n + 63) & ~static_cast<size_t>(63); }

/** Runs f(task, threadIndex) for task in [0, numTasks) on up to maxThreads threads. */
template <typename F>
void parallelFor(ThreadPool* pool, int64_t numTasks, int32_t maxThreads, F& f) {
  pool->run(
      numTasks, [](void* ctx, int64_t task, int32_t threadIndex) { (*static_cast<F*>(ctx))(task, threadIndex); }, &f,
      maxThreads);
}

/** Splits n elements into chunks and runs f(begin, end) over them, in parallel when n is large. */
template <typename F>
void parallelChunks(ThreadPool* pool, int64_t n, int64_t minChunk, F&& f) {
  const int32_t threads = n >= 2 * minChunk ? pool->numThreads() : 1;
  if (threads == 1) {
    f(0, n);
    return;
  }
  const int64_t chunk = ceilDiv(n, static_cast<int64_t>(threads) * 4) > minChunk ? ceilDiv(n, static_cast<int64_t>(threads) * 4) : minChunk;
  auto task = [&](int64_t t, int32_t) {
    const int64_t begin = t * chunk;
    const int64_t end = begin + chunk < n ? begin + chunk : n;
    f(begin, end);
  };
  parallelFor(pool, ceilDiv(n, chunk), threads, task);
}

}  // namespace

Scratch::~Scratch() { std::free(data_); }

uint8_t* Scratch::reserve(size_t bytes) {
  if (bytes <= bytes_) return data_;
  const size_t size = roundUp64(bytes);
  void* p = nullptr;
  if (posix_memalign(&p, 64, size) != 0) return nullptr;
  std::free(data_);
  data_ = static_cast<uint8_t*>(p);
  bytes_ = size;
  return data_;
}

Context* Context::create(const KernelTable* kernels, int32_t numThreads) {
  ThreadPool* pool = ThreadPool::create(numThreads);
  if (!pool) return nullptr;
  Context* ctx = new (std::nothrow) Context(kernels, pool);
  if (!ctx) delete pool;
  return ctx;
}

Context::~Context() {
  delete pool_;
  std::free(readAheadPlan_);
}

int32_t Context::matmulThreads(int64_t numRows, int64_t numCols, int64_t numTokens) const {
  return numRows * numCols * numTokens < kMinParallelWork ? 1 : pool_->numThreads();
}

int64_t Context::matmulTaskBounds(const MatmulArgs& a, int32_t threads, int64_t* bounds) const {
  const int64_t rowTile = kernels_->rowTile(a.type, a.numCols, a.isPacked);
  bounds[0] = 0;
  if (a.numTokens > kMaxDecodeTokens || threads < 2) {
    // many tokens: about four tasks per thread of whole row tiles, so that a thread slowed down by
    // something else on the machine does not hold up the others
    const int64_t rowsPerTask = ceilDiv(ceilDiv(a.numRows, static_cast<int64_t>(threads) * 4), rowTile) * rowTile;
    const int64_t numTasks = ceilDiv(a.numRows, rowsPerTask);
    for (int64_t t = 1; t <= numTasks; t++) bounds[t] = t * rowsPerTask < a.numRows ? t * rowsPerTask : a.numRows;
    return numTasks;
  }
  // A few tokens (decode), guided: each task takes 1 / (2 · threads) of the rows left, big tasks
  // first and small ones last, so that the threads finish together even when one joins late or is
  // slowed down: with four equal tasks per thread the caller waited 6 us a matmul on average for
  // the worker's last task, 2% of a decode step (measured, Q4_0 Llama-3.2-1B shape; now ~3 us). A
  // task has at least kMinTaskWeights weights and 1/256 of the rows (which bounds the number of
  // tasks), in whole row tiles.
  constexpr int64_t kMinTaskWeights = int64_t{1} << 17;
  const int64_t minRows = ceilDiv(std::max(ceilDiv(kMinTaskWeights, a.numCols), ceilDiv(a.numRows, 256)), rowTile) * rowTile;
  int64_t numTasks = 0;
  for (int64_t r = 0; r < a.numRows;) {
    const int64_t share = ceilDiv(ceilDiv(a.numRows - r, 2 * static_cast<int64_t>(threads)), rowTile) * rowTile;
    const int64_t size = numTasks == kMaxMatmulTasks - 1 ? a.numRows - r : std::max(share, minRows);
    r = r + size < a.numRows ? r + size : a.numRows;
    bounds[++numTasks] = r;
  }
  return numTasks;
}

bool Context::setReadAheadPlan(const PlannedWeight* plan, int64_t count) {
  pool_->stopReadAhead();  // nothing reads the old plan's weights after this
  std::free(readAheadPlan_);
  readAheadPlan_ = nullptr;
  readAheadCount_ = 0;
  readAheadNext_ = 0;
  if (count <= 0) return true;
  readAheadPlan_ = static_cast<PlannedWeight*>(std::malloc(static_cast<size_t>(count) * sizeof(PlannedWeight)));
  if (!readAheadPlan_) return false;
  std::memcpy(readAheadPlan_, plan, static_cast<size_t>(count) * sizeof(PlannedWeight));
  readAheadCount_ = static_cast<size_t>(count);
  return true;
}

void Context::forgetMemory(const void* begin, size_t bytes) {
  const uint8_t* lo = static_cast<const uint8_t*>(begin);
  const uint8_t* hi = lo + bytes;
  if (faulter_.overlaps(lo, hi)) faulter_.stop();
  for (size_t i = 0; i < readAheadCount_; i++) {
    const PlannedWeight& w = readAheadPlan_[i];
    if (w.w < hi && lo < w.w + w.bytes) {
      setReadAheadPlan(nullptr, 0);
      return;
    }
  }
}

void Context::readAheadAfter(const MatmulArgs& a) {
  // a decode step reads each weight once, from memory, with small ops between the matmuls that
  // leave the memory idle: meanwhile a worker reads the next weight into its caches
  const size_t n = readAheadCount_;
  if (n == 0 || a.numTokens > kMaxDecodeTokens) return;
  size_t i = readAheadNext_ < n && readAheadPlan_[readAheadNext_].w == a.w ? readAheadNext_ : n;
  for (size_t k = 0; i == n && k < n; k++) {
    if (readAheadPlan_[k].w == a.w) i = k;
  }
  if (i == n) return;  // not in the plan
  const PlannedWeight& next = readAheadPlan_[(i + 1) % n];
  readAheadNext_ = (i + 1) % n;
  MatmulArgs b{};
  b.type = next.type;
  b.isPacked = next.isPacked;
  b.numRows = next.numRows;
  b.numCols = next.numCols;
  b.numTokens = a.numTokens;
  const int32_t threads = matmulThreads(b.numRows, b.numCols, b.numTokens);
  if (threads < 2) return;
  // The worker that reads ahead takes the second task when the matmul starts (the caller takes the
  // first at once): read from that task's first row on, which lands in the worker's own caches.
  // Rows lie in order in every layout (row-major or packed in row tiles), so the byte offset of a
  // row is about its share of the bytes.
  int64_t bounds[kMaxMatmulTasks + 1];
  const int64_t firstRows = matmulTaskBounds(b, threads, bounds) > 1 ? bounds[1] : 0;
  const int64_t start = static_cast<int64_t>(static_cast<double>(next.bytes) * firstRows / b.numRows) & ~int64_t{63};
  pool_->readAhead(next.w, next.bytes, start);
}

Status Context::matmul(const MatmulArgs& in) {
  MatmulArgs a = in;
  a.isF16Lanes = a.type == TYPE_F16 && a.numRows % 32 == 0 && a.numCols % 16 == 0;
  a.isBf16Allowed = isBf16Allowed_;
  a.actStride = kernels_->activationBytes(a.type, a.numCols, a.isPacked);
  // kernels with per-thread scratch (AMX) read the activations in whole tiles of tokens: zero padding
  const size_t scratchBytes = roundUp64(kernels_->matmulScratchBytes(a.type, a.numCols, a.numTokens));
  const int64_t numPadded = scratchBytes > 0 ? ceilDiv(a.numTokens, kAmxTokens) * kAmxTokens : a.numTokens;
  a.act = activations_.reserve(a.actStride * static_cast<size_t>(numPadded));
  if (!a.act) return STATUS_OUT_OF_MEMORY;
  std::memset(a.act + a.actStride * static_cast<size_t>(a.numTokens), 0, a.actStride * static_cast<size_t>(numPadded - a.numTokens));

  const int32_t threads = matmulThreads(a.numRows, a.numCols, a.numTokens);

  // isSwiglu: each row of swiglu(gate, up) goes through a thread's row buffer straight into the
  // activations (as llama.cpp's ggml_vec_swiglu_f32 per row: ggml's vectorized silu on whole
  // 16-element chunks, libm's on the rest), never to memory as a whole
  const bool isGated = a.isSwiglu || a.isGeglu;
  float* swigluRows = nullptr;
  if (isGated) {
    swigluRows = reinterpret_cast<float*>(swigluRows_.reserve(static_cast<size_t>(a.numCols) * sizeof(float) * static_cast<size_t>(threads)));
    if (!swigluRows) return STATUS_OUT_OF_MEMORY;
  }
  auto prepare = [&](int64_t t, int32_t threadIndex) {
    if (!isGated) return kernels_->prepareActivations(a, t, t + 1);
    float* row = swigluRows + a.numCols * threadIndex;
    const float* gate = a.x + 2 * t * a.numCols;
    if (a.isGeglu) geglu(row, gate, gate + a.numCols, a.numCols);
    else kernels_->swiglu(row, gate, gate + a.numCols, a.numCols, a.numCols - a.numCols % 16);
    MatmulArgs one = a;
    one.x = row;
    one.act = a.act + a.actStride * static_cast<size_t>(t);
    kernels_->prepareActivations(one, 0, 1);
  };
  if (a.numTokens >= 2 && a.numTokens * a.numCols >= kMinParallelElements) {
    parallelFor(pool_, a.numTokens, threads, prepare);
  } else {
    for (int64_t t = 0; t < a.numTokens; t++) prepare(t, 0);
  }

  int64_t bounds[kMaxMatmulTasks + 1];
  const int64_t numTasks = matmulTaskBounds(a, threads, bounds);
  uint8_t* scratch = nullptr;
  if (scratchBytes > 0) {
    scratch = matmul_.reserve(scratchBytes * static_cast<size_t>(threads));
    if (!scratch) return STATUS_OUT_OF_MEMORY;
  }
  auto rows = [&](int64_t task, int32_t threadIndex) {
    kernels_->matmulRows(a, bounds[task], bounds[task + 1], scratch ? scratch + scratchBytes * static_cast<size_t>(threadIndex) : nullptr);
  };
  parallelFor(pool_, numTasks, threads, rows);
  readAheadAfter(a);
  return STATUS_OK;
}

Status Context::attention(const AttentionArgs& a) {
  const int32_t threads = pool_->numThreads();
  // the tiled kernels take every key 0..position and plain scores: a window or soft-cap (Gemma)
  // runs per token, where the key range and the scores are the task's own
  if (a.window <= 0 && a.softcap <= 0.0f && kernels_->isTiledAttention(a)) return tiledAttention(a);
  const size_t perThread = roundUp64(kernels_->attentionScratchFloats(a.numHeads, a.numKvHeads, a.headDim) * sizeof(float));
  uint8_t* scratch = attention_.reserve(perThread * static_cast<size_t>(threads));
  if (!scratch) return STATUS_OUT_OF_MEMORY;
  // Few tokens (decode): a long context's keys go in pieces, merged afterwards ("flash decoding").
  // A token's pieces depend on its own number of keys only, so its result does not depend on the
  // tokens beside it (a decode batch gives each sequence what it gets alone) or on the threads.
  const bool isSplitting = a.numTokens <= kMaxSplitTokens;
  const auto piecesOf = [&](int64_t n) { return isSplitting && n > kSplitKeys ? (ceilDiv(n, kSplitKeys) < kMaxSplits ? ceilDiv(n, kSplitKeys) : kMaxSplits) : 1; };
  int64_t numKeys = 0;
  int64_t numRanges = 0;  // a range of keys per whole token or piece
  int64_t numPieces = 0;  // pieces of the tokens that are split
  // token t's keys: positions [firstKey(t), positions[t]]
  const auto firstKey = [&](int64_t t) -> int64_t {
    const int64_t p = a.positions[t];
    return a.window > 0 && p >= a.window ? p - a.window + 1 : 0;
  };
  for (int64_t t = 0; t < a.numTokens; t++) {
    const int64_t n = static_cast<int64_t>(a.positions[t]) + 1 - firstKey(t);
    numKeys += n;
    const int64_t pieces = piecesOf(n);
    numRanges += pieces;
    if (pieces > 1) numPieces += pieces;
  }
  const bool isParallel = numKeys * a.numHeads * a.headDim >= kMinParallelWork && threads > 1;
  // Few ranges of keys for the threads: split the KV heads too (no effect on the numbers).
  const int64_t wantedTasks = isParallel ? 4 * static_cast<int64_t>(threads) : 1;
  const int64_t kvPerTask = numRanges < wantedTasks ? ceilDiv(static_cast<int64_t>(a.numKvHeads), ceilDiv(wantedTasks, numRanges)) : a.numKvHeads;
  const int64_t numHeadTasks = ceilDiv(static_cast<int64_t>(a.numKvHeads), kvPerTask);
  const int64_t hdA = (a.headDim + 15) / 16 * 16;
  const int64_t partialFloats = 2 * static_cast<int64_t>(a.numHeads) + a.numHeads * hdA;
  // ranges[i] = {token, key begin, key end, partial index or -1}
  int64_t* ranges = reinterpret_cast<int64_t*>(attentionRanges_.reserve(static_cast<size_t>(numRanges) * 4 * sizeof(int64_t)));
  float* partials = nullptr;
  if (numPieces > 0) partials = reinterpret_cast<float*>(attentionPartials_.reserve(static_cast<size_t>(numPieces * partialFloats) * sizeof(float)));
  if (!ranges || (numPieces > 0 && !partials)) return STATUS_OUT_OF_MEMORY;
  int64_t r = 0;
  int64_t piece = 0;
  for (int64_t t = 0; t < a.numTokens; t++) {
    const int64_t first = firstKey(t);
    const int64_t n = static_cast<int64_t>(a.positions[t]) + 1 - first;
    const int64_t pieces = piecesOf(n);
    const int64_t pieceKeys = ceilDiv(ceilDiv(n, pieces), 64) * 64;
    for (int64_t p = 0; p < pieces; p++, r++) {
      ranges[4 * r] = t;
      ranges[4 * r + 1] = first + p * pieceKeys;
      ranges[4 * r + 2] = first + ((p + 1) * pieceKeys < n ? (p + 1) * pieceKeys : n);
      ranges[4 * r + 3] = pieces > 1 ? piece++ : -1;
    }
  }
  auto task = [&](int64_t i, int32_t threadIndex) {
    const int64_t kv0 = i % numHeadTasks * kvPerTask;
    const int64_t kv1 = kv0 + kvPerTask < a.numKvHeads ? kv0 + kvPerTask : a.numKvHeads;
    const int64_t* range = ranges + 4 * (i / numHeadTasks);
    float* partial = range[3] >= 0 ? partials + range[3] * partialFloats : nullptr;
    if (partial && range[1] >= range[2]) {
      for (int64_t h = kv0 * (a.numHeads / a.numKvHeads); h < kv1 * (a.numHeads / a.numKvHeads); h++) {
        partial[h] = -INFINITY;
        partial[a.numHeads + h] = 0.0f;
      }
      return;
    }
    kernels_->attentionTask(a, range[0], range[1], range[2], static_cast<int32_t>(kv0), static_cast<int32_t>(kv1),
                            reinterpret_cast<float*>(scratch + perThread * threadIndex), partial);
  };
  parallelFor(pool_, r * numHeadTasks, isParallel ? threads : 1, task);
  if (numPieces == 0) return STATUS_OK;
  // merge a split token's pieces: out = Σ_s e^(m_s - M) acc_s / Σ_s e^(m_s - M) l_s, with M = max_s m_s
  const int64_t qDim = static_cast<int64_t>(a.numHeads) * a.headDim;
  for (int64_t i = 0; i < r;) {
    const int64_t t = ranges[4 * i];
    int64_t numSplits = 1;
    while (i + numSplits < r && ranges[4 * (i + numSplits)] == t) numSplits++;
    if (ranges[4 * i + 3] < 0) {
      i += numSplits;
      continue;
    }
    const float* base = partials + ranges[4 * i + 3] * partialFloats;
    i += numSplits;
    for (int32_t h = 0; h < a.numHeads; h++) {
      float m = -INFINITY;
      for (int64_t s = 0; s < numSplits; s++) m = base[s * partialFloats + h] > m ? base[s * partialFloats + h] : m;
      float* out = a.out + t * qDim + static_cast<int64_t>(h) * a.headDim;
      float sum = 0.0f;
      for (int64_t d = 0; d < a.headDim; d++) out[d] = 0.0f;
      for (int64_t s = 0; s < numSplits; s++) {
        const float* p = base + s * partialFloats;
        if (p[a.numHeads + h] == 0.0f) continue;
        const float w = std::exp(p[h] - m);
        sum += w * p[a.numHeads + h];
        const float* acc = p + 2 * a.numHeads + static_cast<int64_t>(h) * hdA;
        for (int64_t d = 0; d < a.headDim; d++) out[d] += w * acc[d];
      }
      const float inv = 1.0f / sum;
      for (int64_t d = 0; d < a.headDim; d++) out[d] *= inv;
    }
  }
  return STATUS_OK;
}

// Many tokens: tasks of a few query tokens × one KV head, the last tokens (the most keys) first.
Status Context::tiledAttention(const AttentionArgs& a) {
  const int64_t kTokens = kernels_->tiledAttentionTokens;
  const int32_t threads = pool_->numThreads();
  const size_t perThread = roundUp64(kernels_->tiledAttentionScratchFloats(a.numHeads, a.numKvHeads, a.headDim) * sizeof(float));
  uint8_t* scratch = attention_.reserve(perThread * static_cast<size_t>(threads));
  if (!scratch) return STATUS_OUT_OF_MEMORY;
  const int64_t numTiles = ceilDiv(a.numTokens, kTokens);
  auto task = [&](int64_t i, int32_t threadIndex) {
    const int64_t tile = numTiles - 1 - i / a.numKvHeads;
    const int64_t t0 = tile * kTokens;
    const int64_t t1 = t0 + kTokens < a.numTokens ? t0 + kTokens : a.numTokens;
    kernels_->attentionTileTask(a, t0, t1, static_cast<int32_t>(i % a.numKvHeads), reinterpret_cast<float*>(scratch + perThread * threadIndex));
  };
  parallelFor(pool_, numTiles * a.numKvHeads, threads, task);
  return STATUS_OK;
}

Status Context::rmsNorm(float* out, float* x, const float* residual, const float* weight, int64_t numTokens, int64_t dim, double eps) {
  // as ggml's rms_norm: f32 squares summed in order in double, then f32 mean, sqrtf, 1.0f/. The
  // in-order double sum is one long dependency chain per token: kGroup tokens at a time keep
  // kGroup independent chains in flight (each still in order, so the same bits).
  constexpr int64_t kGroup = 8;
  const int64_t minTokens = kMinParallelElements / dim > 1 ? kMinParallelElements / dim : 1;
  parallelChunks(pool_, numTokens, minTokens, [&](int64_t begin, int64_t end) {
    // the residual add (as `add`), on the chunk's rows while they are in cache
    if (residual) kernels_->add(x + begin * dim, x + begin * dim, residual + begin * dim, (end - begin) * dim);
    for (int64_t t0 = begin; t0 < end; t0 += kGroup) {
      const int64_t n = end - t0 < kGroup ? end - t0 : kGroup;
      double sums[kGroup] = {};
      if (n == kGroup) {
        for (int64_t i = 0; i < dim; i++) {
          for (int64_t k = 0; k < kGroup; k++) {
            const float v = x[(t0 + k) * dim + i];
            const float square = v * v;
            sums[k] += square;
          }
        }
      } else {
        for (int64_t k = 0; k < n; k++) {
          for (int64_t i = 0; i < dim; i++) {
            const float v = x[(t0 + k) * dim + i];
            const float square = v * v;
            sums[k] += square;
          }
        }
      }
      for (int64_t k = 0; k < n; k++) {
        const int64_t t = t0 + k;
        const float mean = static_cast<float>(sums[k] / static_cast<double>(dim));
        const float scale = 1.0f / std::sqrt(mean + static_cast<float>(eps));
        kernels_->scaleMul(out + t * dim, x + t * dim, scale, weight, dim);
      }
    }
  });
  return STATUS_OK;
}

Status Context::rope(const RopeArgs& a) {
  const int64_t half = a.numRotaryDims / 2;
  const int64_t rowFloats = roundUp64(static_cast<size_t>(2 * half) * sizeof(float)) / sizeof(float);
  const size_t positionBytes = static_cast<size_t>(a.numTokens) * sizeof(int32_t);
  const size_t factorBytes = a.freqFactors ? static_cast<size_t>(half) * sizeof(float) : 0;
  const uint8_t* key = ropeKey_.data();
  const bool isCached = ropeTokens_ == a.numTokens && ropeDims_ == a.numRotaryDims && ropeBase_ == a.freqBase && ropeScale_ == a.freqScale && ropeAttnFactor_ == a.attnFactor &&
                        ropeHasFactors_ == (a.freqFactors != nullptr) && std::memcmp(key, a.positions, positionBytes) == 0 &&
                        (factorBytes == 0 || std::memcmp(key + positionBytes, a.freqFactors, factorBytes) == 0);
  const int64_t perToken = static_cast<int64_t>(a.numHeads) * a.headDim;
  const int32_t threads = a.numTokens * perToken >= kMinParallelElements ? pool_->numThreads() : 1;
  if (!isCached) {
    ropeTokens_ = -1;
    float* table = reinterpret_cast<float*>(ropeTable_.reserve(static_cast<size_t>(a.numTokens * rowFloats) * sizeof(float)));
    uint8_t* newKey = ropeKey_.reserve(positionBytes + factorBytes + 1);  // (+1: never a reserve of 0, which may give nullptr)
    if (!table || !newKey) return STATUS_OUT_OF_MEMORY;
    // float32 iteration of theta as ggml's rope cache does; cos/sin in double, rounded to f32
    const float thetaScale = static_cast<float>(std::pow(a.freqBase, -2.0 / a.numRotaryDims));
    auto fill = [&](int64_t t, int32_t) {
      float* cs = table + t * rowFloats;  // [half] cos, then [half] sin
      float theta = static_cast<float>(a.positions[t]);
      for (int64_t i = 0; i < half; i++) {
        const float ff = a.freqFactors ? a.freqFactors[i] : 1.0f;
        const float angle = static_cast<float>(a.freqScale * static_cast<double>(theta / ff));
        // × attnFactor in f32 after the rounding, as ggml's rope_yarn: cosf(theta) * mscale
        cs[i] = static_cast<float>(std::cos(static_cast<double>(angle))) * a.attnFactor;
        cs[half + i] = static_cast<float>(std::sin(static_cast<double>(angle))) * a.attnFactor;
        theta = theta * thetaScale;
      }
    };
    parallelFor(pool_, a.numTokens, a.numTokens * half >= 1024 ? pool_->numThreads() : 1, fill);
    std::memcpy(newKey, a.positions, positionBytes);
    if (factorBytes > 0) std::memcpy(newKey + positionBytes, a.freqFactors, factorBytes);
    ropeTokens_ = a.numTokens;
    ropeDims_ = a.numRotaryDims;
    ropeBase_ = a.freqBase;
    ropeScale_ = a.freqScale;
    ropeAttnFactor_ = a.attnFactor;
    ropeHasFactors_ = a.freqFactors != nullptr;
  }
  const float* table = reinterpret_cast<const float*>(ropeTable_.data());
  // the rotation in double rounded once: this reproduces the reference backend bit for bit
  auto task = [&](int64_t t, int32_t) { kernels_->ropeRotate(a.x + t * perToken, table + t * rowFloats, half, a.numHeads, a.headDim, a.isNeox); };
  parallelFor(pool_, a.numTokens, threads, task);
  return STATUS_OK;
}

Status Context::embedding(const EmbeddingArgs& a) {
  const int64_t n = a.numCols;
  for (int64_t t = 0; t < a.numIds; t++) {
    float* out = a.out + t * n;
    const int64_t row = a.ids[t];
    if (a.isPacked) {
      kernels_->dequantizePackedRow(a.type, a.table, n, row, out);
      continue;
    }
    const uint8_t* src = a.table + row * typeRowBytes(a.type, n);
    switch (a.type) {
      case TYPE_F32: {
        for (int64_t c = 0; c < n; c++) out[c] = loadF32(src + c * 4);
        break;
      }
      case TYPE_F16: {
        for (int64_t c = 0; c < n; c++) out[c] = f16ToF32(loadU16(src + c * 2));
        break;
      }
      case TYPE_BF16: {
        for (int64_t c = 0; c < n; c++) out[c] = bf16ToF32(loadU16(src + c * 2));
        break;
      }
      case TYPE_Q8_0: {
        for (int64_t b = 0; b < n / 32; b++) {
          const float d = f16ToF32(loadU16(src + b * 34));
          for (int j = 0; j < 32; j++) out[b * 32 + j] = d * static_cast<float>(static_cast<int8_t>(src[b * 34 + 2 + j]));
        }
        break;
      }
      case TYPE_Q4_0: {
        for (int64_t b = 0; b < n / 32; b++) {
          const float d = f16ToF32(loadU16(src + b * 18));
          for (int j = 0; j < 16; j++) {
            const uint8_t q = src[b * 18 + 2 + j];
            out[b * 32 + j] = d * static_cast<float>((q & 0x0f) - 8);
            out[b * 32 + 16 + j] = d * static_cast<float>((q >> 4) - 8);
          }
        }
        break;
      }
      default:
        return STATUS_UNSUPPORTED_TYPE;
    }
  }
  return STATUS_OK;
}

/**
 * Values [first, first + n) of a KV cache of KvType `type` = src (as the reference backend's
 * encodeKv: f16/bf16 nearest even, fp8 f32ToE4m3, q8_0 as llama.cpp's x86 quantize_row_q8_0:
 * d = amax / 127 stored as f16, q = nearest-even(x · 127 / amax)).
 */
void Context::storeKvRow(void* cache, int32_t type, int64_t first, const float* src, int64_t n) {
  switch (type) {
    case KV_F32:
      std::memcpy(static_cast<float*>(cache) + first, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case KV_F16:
      kernels_->toF16(static_cast<uint16_t*>(cache) + first, src, n);
      return;
    case KV_BF16:
      for (int64_t i = 0; i < n; i++) static_cast<uint16_t*>(cache)[first + i] = f32ToBf16(src[i]);
      return;
    case KV_FP8:
      for (int64_t i = 0; i < n; i++) static_cast<uint8_t*>(cache)[first + i] = f32ToE4m3(src[i]);
      return;
    default: {  // KV_Q8_0
      uint8_t* blocks = static_cast<uint8_t*>(cache) + first / kKvQ8Block * kKvQ8BlockBytes;
      for (int64_t b = 0; b < n / kKvQ8Block; b++) {
        const float* x = src + b * kKvQ8Block;
        uint8_t* block = blocks + b * kKvQ8BlockBytes;
        float amax = 0.0f;
        for (int64_t j = 0; j < kKvQ8Block; j++) amax = std::fabs(x[j]) > amax ? std::fabs(x[j]) : amax;
        const uint16_t d = f32ToF16(amax / 127.0f);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        std::memcpy(block, &d, sizeof d);
        for (int64_t j = 0; j < kKvQ8Block; j++) block[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::nearbyint(x[j] * id)));
      }
      return;
    }
  }
}

Status Context::storeKv(const StoreKvArgs& a) {
  for (int64_t t = 0; t < a.numTokens; t++) {
    const int64_t offset = static_cast<int64_t>(a.slotIds[t]) * a.kvDim;
    storeKvRow(a.kCache, a.kvType, offset, a.k + t * a.kvDim, a.kvDim);
    storeKvRow(a.vCache, a.kvType, offset, a.v + t * a.kvDim, a.kvDim);
  }
  return STATUS_OK;
}

Status Context::argmaxRows(int32_t* out, const float* x, int64_t numRows, int64_t rowLength) {
  const int32_t threads = pool_->numThreads();
  if (numRows == 1 && threads > 1 && rowLength >= 2 * kMinParallelElements) {
    // one long row (a decode step's logits): each thread takes chunks of it, then the first chunk
    // with the largest value wins, which keeps "the first index of the largest" (NaN never wins)
    int64_t best[2 * ThreadPool::kMaxThreads];
    const int64_t numChunks = 2 * static_cast<int64_t>(threads);
    const int64_t chunk = ceilDiv(rowLength, numChunks);
    auto find = [&](int64_t c, int32_t) {
      const int64_t begin = c * chunk;
      const int64_t end = begin + chunk < rowLength ? begin + chunk : rowLength;
      best[c] = begin < end ? begin + kernels_->argmax(x + begin, end - begin) : 0;
    };
    parallelFor(pool_, numChunks, threads, find);
    int64_t index = 0;
    float value = -INFINITY;
    for (int64_t c = 0; c < numChunks; c++) {
      if (x[best[c]] > value) {
        value = x[best[c]];
        index = best[c];
      }
    }
    out[0] = static_cast<int32_t>(index);
    return STATUS_OK;
  }
  auto row = [&](int64_t r, int32_t) { out[r] = static_cast<int32_t>(kernels_->argmax(x + r * rowLength, rowLength)); };
  parallelFor(pool_, numRows, numRows * rowLength >= kMinParallelElements ? threads : 1, row);
  return STATUS_OK;
}

void Context::packWeights(int32_t type, const uint8_t* w, int64_t numRows, int64_t numCols, uint8_t* out) {
  kernels_->packWeights(type, w, numRows, numCols, out);
  faulter_.skipTo(out + kernels_->packedBytes(type, numRows, numCols));
}

bool Context::faultInWeights(uint8_t* data, int64_t bytes) { return faulter_.start(data, bytes); }

uint64_t Context::touchLines(const uint8_t* data, int64_t bytes) {
  // each thread's part as kStreams streams in lockstep, one word per 64-byte line, with a software
  // prefetch 1 KiB ahead: the access pattern of the matmul kernels, minus their arithmetic
  constexpr int64_t kStreams = 8;
  constexpr int64_t kLine = 64;
  const int32_t threads = pool_->numThreads();
  const int64_t part = bytes / threads / kStreams / kLine * kLine;
  uint64_t sums[64] = {};
  auto task = [&](int64_t t, int32_t) {
    const uint8_t* base = data + t * part * kStreams;
    uint64_t sum = 0;
    for (int64_t i = 0; i < part; i += kLine) {
      for (int64_t s = 0; s < kStreams; s++) {
        const uint8_t* p = base + s * part + i;
        __builtin_prefetch(p + 1024);
        uint64_t v;
        std::memcpy(&v, p, 8);
        sum += v;
      }
    }
    sums[t % 64] += sum;
  };
  parallelFor(pool_, threads, threads, task);
  uint64_t total = 0;
  for (uint64_t v : sums) total += v;
  return total;
}

Status Context::add(float* out, const float* a, const float* b, int64_t n) {
  parallelChunks(pool_, n, kMinParallelElements, [&](int64_t s, int64_t e) { kernels_->add(out + s, a + s, b + s, e - s); });
  return STATUS_OK;
}

Status Context::scale(float* x, int64_t n, float s) {
  parallelChunks(pool_, n, kMinParallelElements, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) x[i] *= s;
  });
  return STATUS_OK;
}

Status Context::softcap(float* x, int64_t n, float cap) {
  // as llama.cpp's ggml_scale(1/cap), ggml_tanh (tanhf), ggml_scale(cap): three f32 roundings
  const float inv = 1.0f / cap;
  parallelChunks(pool_, n, kMinParallelElements / 8, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) x[i] = std::tanh(x[i] * inv) * cap;
  });
  return STATUS_OK;
}

Status Context::addBias(float* x, const float* bias, int64_t numTokens, int64_t dim) {
  if (dim == 0) return STATUS_OK;
  // whole rows per chunk: each row is the element-wise add of the bias
  const int64_t minRows = (kMinParallelElements + dim - 1) / dim;
  parallelChunks(pool_, numTokens, minRows, [&](int64_t s, int64_t e) {
    for (int64_t t = s; t < e; t++) kernels_->add(x + t * dim, x + t * dim, bias, dim);
  });
  return STATUS_OK;
}

}  // namespace peregrine
