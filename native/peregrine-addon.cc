// The N-API surface of the native kernels (plain C N-API, no node-addon-api).
//
// Every function returns a status number (0 = ok) instead of throwing; a failed validation also
// leaves a message that lastError(handle) returns. src/kernels/native/native-backend.ts is the one
// TypeScript wrapper that turns statuses into typed errors. Arguments are validated here (lengths,
// indices, shapes) so that the kernels in context.cc never read or write out of bounds.
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <mutex>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "context.h"
#include "kernels.h"
#include "napi-args.h"
#include "quantize.h"
#include "type-traits.h"

namespace peregrine {
namespace {

/** Bumped when the exported functions or their arguments change; checked by native-backend.ts. */
constexpr int32_t kAbiVersion = 14;

// Every handle not yet finalized, so that memory about to be freed can be taken out of the contexts'
// read ahead first. Node frees an external ArrayBuffer at exit from its own environment cleanup hook,
// and those run newest first: weights allocated after a context was created are unmapped before the
// context's hook stops its pool (a worker reading ahead then faulted).
std::mutex liveMutex;
Handle* liveHandles = nullptr;

void addLiveHandle(Handle* h) {
  std::lock_guard<std::mutex> lock(liveMutex);
  h->nextLive = liveHandles;
  if (liveHandles) liveHandles->prevLive = h;
  liveHandles = h;
}

void removeLiveHandle(Handle* h) {
  std::lock_guard<std::mutex> lock(liveMutex);
  if (h->prevLive) h->prevLive->nextLive = h->nextLive;
  else if (liveHandles == h) liveHandles = h->nextLive;
  if (h->nextLive) h->nextLive->prevLive = h->prevLive;
  h->prevLive = h->nextLive = nullptr;
}

/** [mem, mem + bytes) is about to be freed (on env's thread): no context of env reads it from now on */
void forgetMemory(napi_env env, const void* mem, size_t bytes) {
  std::lock_guard<std::mutex> lock(liveMutex);
  for (Handle* h = liveHandles; h; h = h->nextLive) {
    if (h->env == env && h->ctx) h->ctx->forgetMemory(mem, bytes);  // (other envs' contexts belong to other threads and never plan this memory)
  }
}

void cleanupHook(void* arg) {
  Handle* h = static_cast<Handle*>(arg);
  h->hasCleanupHook = false;  // the hook is being consumed; do not remove it again
  delete h->ctx;
  h->ctx = nullptr;
}

/** drops the reference to the read ahead plan's weights: only once nothing reads them (the pool stopped, or the plan was replaced) */
void releaseReadAhead(napi_env env, Handle* h) {
  if (h->readAhead) napi_delete_reference(env, h->readAhead);
  h->readAhead = nullptr;
}

void finalizeHandle(napi_env env, void* data, void*) {
  Handle* h = static_cast<Handle*>(data);
  removeLiveHandle(h);
  delete h->ctx;
  h->ctx = nullptr;
  releaseReadAhead(env, h);
  if (h->hasCleanupHook) napi_remove_env_cleanup_hook(h->env, cleanupHook, h);
  delete h;
}

/** matmul takes row-major weights of `type` */
bool hasMatmul(int64_t type) {
  const TypeTraits* t = typeTraits(type);
  return t && t->hasMatmul;
}

/** embedding takes a row-major table of `type` (isPacked: a packed one, if this ISA packs the type) */
bool hasEmbedding(int64_t type, bool isPacked) {
  const TypeTraits* t = typeTraits(type);
  return t && (t->hasEmbedding || (isPacked && t->hasMatmul));
}

/** Largest row / column / token count accepted, so that products of two stay far from overflow. */
constexpr int64_t kMaxDim = int64_t{1} << 31;

// ---------------------------------------------------------------------------------------------

/** createContext(numThreads, isa) → handle | status */
napi_value createContext(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2) return makeInt(env, STATUS_BAD_ARGUMENT);
  int32_t numThreads = 0, isa = 0;
  if (napi_get_value_int32(env, argv[0], &numThreads) != napi_ok || napi_get_value_int32(env, argv[1], &isa) != napi_ok ||
      numThreads < 1 || numThreads > ThreadPool::kMaxThreads || isa < ISA_SCALAR || isa > ISA_AMX) {
    return makeInt(env, STATUS_BAD_ARGUMENT);
  }
  Handle* h = new (std::nothrow) Handle();
  if (!h) return makeInt(env, STATUS_OUT_OF_MEMORY);
  h->env = env;
  h->ctx = Context::create(kernelsFor(static_cast<Isa>(isa)), numThreads);
  if (!h->ctx) {
    delete h;
    return makeInt(env, STATUS_THREAD_START_FAILED);
  }
  napi_value external;
  if (napi_create_external(env, h, finalizeHandle, nullptr, &external) != napi_ok) {
    delete h->ctx;
    delete h;
    return makeInt(env, STATUS_OUT_OF_MEMORY);
  }
  if (napi_add_env_cleanup_hook(env, cleanupHook, h) == napi_ok) h->hasCleanupHook = true;
  addLiveHandle(h);
  return external;
}

/** disposeContext(handle) → status; joins the pool's threads and frees the scratch buffers */
napi_value disposeContext(napi_env env, napi_callback_info info) {
  Args args(env, info);
  Handle* h = args.handle();
  if (!h) return makeInt(env, STATUS_BAD_ARGUMENT);
  delete h->ctx;
  h->ctx = nullptr;
  releaseReadAhead(env, h);
  if (h->hasCleanupHook) {
    napi_remove_env_cleanup_hook(env, cleanupHook, h);
    h->hasCleanupHook = false;
  }
  return makeInt(env, STATUS_OK);
}

/** contextIsa(handle) → isa id | -status */
napi_value contextIsa(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (Status s = args.handleStatus(); s != STATUS_OK) return makeInt(env, -s);
  return makeInt(env, args.ctx()->kernels()->isa);
}

/** contextThreads(handle) → number of threads | -status */
napi_value contextThreads(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (Status s = args.handleStatus(); s != STATUS_OK) return makeInt(env, -s);
  return makeInt(env, args.ctx()->numThreads());
}

/** setBf16Batches(handle, allowed 0|1) → status: whether Q8_0 / Q4_0 batches may run in bf16 (AMX tables) */
napi_value setBf16Batches(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  const int64_t allowed = args.integer(1, "allowed");
  PG_RETURN_IF_BAD();
  args.ctx()->setBf16Batches(allowed != 0);
  return makeInt(env, STATUS_OK);
}

/** lastError(handle) → the message of the last failed validation on this handle */
napi_value lastError(napi_env env, napi_callback_info info) {
  Args args(env, info);
  napi_value out;
  napi_create_string_utf8(env, args.handle() ? args.handle()->lastError : "not a native context handle", NAPI_AUTO_LENGTH, &out);
  return out;
}

/**
 * A zeroed ArrayBuffer of `byteLength` bytes in 2 MiB aligned memory marked (on Linux) for
 * transparent huge pages, so that streaming weights does not take a TLB miss every 4 KiB. On Linux
 * it is a fresh anonymous mapping, marked before any page is touched: C heap memory may already be
 * faulted in as 4 KiB pages, which the mark does not turn into huge pages (measured: 170 of 1313 MB
 * of a Q8_0 model's weights on small pages, their GEMV ~15% slower); below 2 MiB, ordinary
 * page-aligned pages. Freed when the ArrayBuffer is collected (or at exit), once no context of this
 * env reads it ahead. Returns nullptr (and sets *status) on failure.
 */
napi_value hugePageBuffer(napi_env env, size_t byteLength, uint8_t** data, Status* status) {
  constexpr size_t kHugePage = size_t{2} << 20;
  if (byteLength == 0) {  // (an external ArrayBuffer without memory would be a detached one)
    napi_value empty;
    void* none = nullptr;
    if (napi_create_arraybuffer(env, 0, &none, &empty) != napi_ok) {
      *status = STATUS_OUT_OF_MEMORY;
      return nullptr;
    }
    *data = nullptr;
    return empty;
  }
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // (a buffer smaller than a huge page gets ordinary pages: a whole huge page each would multiply
  // the memory of a model with many small tensors)
  const bool isHuge = byteLength >= kHugePage;
  const size_t pageSize = isHuge ? kHugePage : 4096;
  const size_t size = (byteLength + pageSize - 1) / pageSize * pageSize;
  // huge: over-map by one huge page, then unmap the unaligned head and the tail
  const size_t extra = isHuge ? kHugePage : 0;
  void* raw = mmap(nullptr, size + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    *status = STATUS_OUT_OF_MEMORY;
    return nullptr;
  }
  const uintptr_t begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (begin + pageSize - 1) & ~(pageSize - 1);
  if (aligned > begin) munmap(raw, aligned - begin);
  const uintptr_t end = begin + size + extra;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - (aligned + size));
  void* p = reinterpret_cast<void*>(aligned);
  if (isHuge) madvise(p, size, MADV_HUGEPAGE);  // (anonymous pages start zeroed)
  const auto release = [](napi_env env, void* mem, void* hint) {
    forgetMemory(env, mem, reinterpret_cast<size_t>(hint));
    munmap(mem, reinterpret_cast<size_t>(hint));
  };
#else
  const size_t size = (byteLength + kHugePage - 1) / kHugePage * kHugePage;
  void* p = nullptr;
  if (posix_memalign(&p, kHugePage, size) != 0) {
    *status = STATUS_OUT_OF_MEMORY;
    return nullptr;
  }
  std::memset(p, 0, size);
  const auto release = [](napi_env env, void* mem, void* hint) {
    forgetMemory(env, mem, reinterpret_cast<size_t>(hint));
    std::free(mem);
  };
#endif
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, p, byteLength, release, reinterpret_cast<void*>(size), &buffer) != napi_ok) {
    release(env, p, reinterpret_cast<void*>(size));
    *status = STATUS_OUT_OF_MEMORY;
    return nullptr;
  }
  *data = static_cast<uint8_t*>(p);
  return buffer;
}

/** allocateWeightBuffer(byteLength) → ArrayBuffer | status (see hugePageBuffer) */
napi_value allocateWeightBuffer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t byteLength = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 ||
      napi_get_value_int64(env, argv[0], &byteLength) != napi_ok || byteLength < 0 || byteLength > (int64_t{1} << 40)) {
    return makeInt(env, STATUS_BAD_ARGUMENT);
  }
  uint8_t* data = nullptr;
  Status status = STATUS_OK;
  napi_value buffer = hugePageBuffer(env, static_cast<size_t>(byteLength), &data, &status);
  return buffer ? buffer : makeInt(env, status);
}

/**
 * typeTraits() → [{type, name, blockSize, blockBytes, hasMatmul, hasEmbedding}] | status: the weight
 * types these kernels know (kTypeTraits in type-traits.h), for a test to check against the TypeScript table
 */
napi_value typeTraitsList(napi_env env, napi_callback_info) {
  napi_value list;
  if (napi_create_array_with_length(env, kNumTypeTraits, &list) != napi_ok) return makeInt(env, STATUS_OUT_OF_MEMORY);
  for (int32_t i = 0; i < kNumTypeTraits; i++) {
    const TypeTraits& t = kTypeTraits[i];
    napi_value row, name, matmulFlag, embeddingFlag;
    bool isOk = napi_create_object(env, &row) == napi_ok && napi_create_string_utf8(env, t.name, NAPI_AUTO_LENGTH, &name) == napi_ok &&
                napi_get_boolean(env, t.hasMatmul, &matmulFlag) == napi_ok && napi_get_boolean(env, t.hasEmbedding, &embeddingFlag) == napi_ok &&
                napi_set_named_property(env, row, "type", makeInt(env, t.type)) == napi_ok && napi_set_named_property(env, row, "name", name) == napi_ok &&
                napi_set_named_property(env, row, "blockSize", makeInt(env, t.blockSize)) == napi_ok &&
                napi_set_named_property(env, row, "blockBytes", makeInt(env, t.blockBytes)) == napi_ok &&
                napi_set_named_property(env, row, "hasMatmul", matmulFlag) == napi_ok && napi_set_named_property(env, row, "hasEmbedding", embeddingFlag) == napi_ok &&
                napi_set_element(env, list, static_cast<uint32_t>(i), row) == napi_ok;
    if (!isOk) return makeInt(env, STATUS_OUT_OF_MEMORY);
  }
  return list;
}

/** bestIsa() → the best isa id this CPU supports */
napi_value bestIsa(napi_env env, napi_callback_info) { return makeInt(env, bestSupportedIsa()); }

/** the shared body of matmul and matmulPacked */
napi_value matmulImpl(napi_env env, napi_callback_info info, bool isPacked) {
  PG_BEGIN();
  int64_t outLen, wLen, xLen;
  float* out = args.typedArray<float>(1, napi_float32_array, &outLen, "out");
  const uint8_t* w = args.typedArray<uint8_t>(2, napi_uint8_array, &wLen, "w.data");
  const int64_t type = args.integer(3, "w.type");
  const int64_t numRows = args.integer(4, "w.numRows");
  const int64_t numCols = args.integer(5, "w.numCols");
  const float* x = args.typedArray<float>(6, napi_float32_array, &xLen, "x");
  const int64_t numTokens = args.integer(7, "numTokens");
  const int64_t glu = args.integer(8, "glu");
  PG_RETURN_IF_BAD();
  args.check(glu >= 0 && glu <= 2, "glu must be 0 (none), 1 (swiglu) or 2 (geglu)");
  PG_RETURN_IF_BAD();
  const bool isSwiglu = glu != 0;  // either gated activation: x holds gate and up
  if (!hasMatmul(type)) return makeInt(env, STATUS_UNSUPPORTED_TYPE);
  const int64_t rb = checkedRowBytes(type, numCols);
  args.check(numRows >= 0 && numCols > 0 && numTokens >= 0 && numRows < kMaxDim && numCols < kMaxDim && numTokens < kMaxDim, "bad shape numRows=%lld numCols=%lld numTokens=%lld",
             static_cast<long long>(numRows), static_cast<long long>(numCols), static_cast<long long>(numTokens));
  args.check(rb > 0, "numCols %lld is not a multiple of the block size", static_cast<long long>(numCols));
  PG_RETURN_IF_BAD();
  const int64_t needed = isPacked ? static_cast<int64_t>(args.ctx()->kernels()->packedBytes(static_cast<int32_t>(type), numRows, numCols)) : numRows * rb;
  if (isPacked && needed == 0) return makeInt(env, STATUS_UNSUPPORTED_TYPE);
  args.check(wLen >= needed, "w.data has %lld bytes, needs %lld", static_cast<long long>(wLen), static_cast<long long>(needed));
  args.check(xLen >= numTokens * numCols * (isSwiglu ? 2 : 1), isSwiglu ? "x is shorter than numTokens * 2 * numCols" : "x is shorter than numTokens * numCols");
  args.check(outLen >= numTokens * numRows, "out is shorter than numTokens * numRows");
  PG_RETURN_IF_BAD();
  if (numRows == 0 || numTokens == 0) return makeInt(env, STATUS_OK);
  MatmulArgs a{};
  a.type = static_cast<int32_t>(type);
  a.isPacked = isPacked;
  a.w = w;
  a.numRows = numRows;
  a.numCols = numCols;
  a.x = x;
  a.isSwiglu = glu == 1;
  a.isGeglu = glu == 2;
  a.numTokens = numTokens;
  a.out = out;
  return makeInt(env, args.ctx()->matmul(a));
}

/**
 * matmul(handle, out f32, w u8, type, numRows, numCols, x f32, numTokens, glu 0/1/2): glu 1: w · swiglu(gate, up),
 * 2: w · geglu(gate, up) (gelu(gate) · up), x = [gate | up] per row
 */
napi_value matmul(napi_env env, napi_callback_info info) { return matmulImpl(env, info, false); }

/** matmulPacked(handle, out f32, packed u8, type, numRows, numCols, x f32, numTokens, glu 0/1/2): w from packWeights */
napi_value matmulPacked(napi_env env, napi_callback_info info) { return matmulImpl(env, info, true); }

/**
 * packedBytes(handle, type, numRows, numCols) → the bytes of the layout packWeights writes, 0 where
 * this context's kernels do not pack `type`, or −status (a bad shape, a disposed context)
 */
napi_value packedBytes(napi_env env, napi_callback_info info) {
  Args args(env, info);
  if (Status s = args.handleStatus(); s != STATUS_OK) return makeInt(env, -s);
  const int64_t type = args.integer(1, "w.type");
  const int64_t numRows = args.integer(2, "w.numRows");
  const int64_t numCols = args.integer(3, "w.numCols");
  const int64_t rb = checkedRowBytes(type, numCols);
  args.check(numRows > 0 && numRows < kMaxDim && numCols > 0 && numCols < kMaxDim && rb > 0, "bad shape");
  if (!args.isOk()) return makeInt(env, -STATUS_BAD_ARGUMENT);
  const size_t bytes = hasMatmul(type) ? args.ctx()->kernels()->packedBytes(static_cast<int32_t>(type), numRows, numCols) : 0;
  napi_value out;
  napi_create_int64(env, static_cast<int64_t>(bytes), &out);
  return out;
}

/**
 * packWeights(handle, w u8, type, numRows, numCols, out u8) → status: writes the weights in the
 * layout matmulPacked reads to `out` (at least packedBytes long; the caller's memory, e.g. a weight
 * arena's); UNSUPPORTED_TYPE if this context's kernels do not pack `type`.
 */
napi_value packWeights(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  int64_t wLen;
  const uint8_t* w = args.typedArray<uint8_t>(1, napi_uint8_array, &wLen, "w.data");
  const int64_t type = args.integer(2, "w.type");
  const int64_t numRows = args.integer(3, "w.numRows");
  const int64_t numCols = args.integer(4, "w.numCols");
  int64_t outLen;
  uint8_t* out = args.typedArray<uint8_t>(5, napi_uint8_array, &outLen, "out");
  PG_RETURN_IF_BAD();
  if (!hasMatmul(type)) return makeInt(env, STATUS_UNSUPPORTED_TYPE);  // (packedBytes says which pack)
  const int64_t rb = checkedRowBytes(type, numCols);
  args.check(numRows > 0 && numRows < kMaxDim && numCols > 0 && numCols < kMaxDim && rb > 0, "bad shape");
  args.check(wLen >= numRows * rb, "w.data is shorter than numRows rows");
  PG_RETURN_IF_BAD();
  const KernelTable* k = args.ctx()->kernels();
  const size_t bytes = k->packedBytes(static_cast<int32_t>(type), numRows, numCols);
  if (bytes == 0) return makeInt(env, STATUS_UNSUPPORTED_TYPE);
  args.check(outLen >= static_cast<int64_t>(bytes), "out has %lld bytes, the packed layout needs %zu", static_cast<long long>(outLen), bytes);
  PG_RETURN_IF_BAD();
  args.ctx()->packWeights(static_cast<int32_t>(type), w, numRows, numCols, out);
  return makeInt(env, STATUS_OK);
}

/**
 * faultInWeights(handle, data u8) → status: `data` (page aligned: from allocateWeightBuffer) is
 * weight memory that packWeights calls are about to fill from its start; a thread faults it in
 * meanwhile (Context::faultInWeights). A hint: no effect on any result; an empty view stops it.
 */
napi_value faultInWeights(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  int64_t length;
  uint8_t* data = args.typedArray<uint8_t>(1, napi_uint8_array, &length, "data");
  PG_RETURN_IF_BAD();
  args.check(reinterpret_cast<uintptr_t>(data) % 4096 == 0 || length == 0, "data is not page aligned");
  PG_RETURN_IF_BAD();
  return makeInt(env, args.ctx()->faultInWeights(data, length) ? STATUS_OK : STATUS_OUT_OF_MEMORY);
}

/** the shared body of embedding and embeddingPacked */
napi_value embeddingImpl(napi_env env, napi_callback_info info, bool isPacked) {
  PG_BEGIN();
  int64_t outLen, tableLen, numIds;
  float* out = args.typedArray<float>(1, napi_float32_array, &outLen, "out");
  const uint8_t* table = args.typedArray<uint8_t>(2, napi_uint8_array, &tableLen, "table.data");
  const int64_t type = args.integer(3, "table.type");
  const int64_t numRows = args.integer(4, "table.numRows");
  const int64_t numCols = args.integer(5, "table.numCols");
  const int32_t* ids = args.typedArray<int32_t>(6, napi_int32_array, &numIds, "ids");
  PG_RETURN_IF_BAD();
  if (!hasEmbedding(type, isPacked)) return makeInt(env, STATUS_UNSUPPORTED_TYPE);
  const int64_t rb = checkedRowBytes(type, numCols);
  args.check(numRows >= 0 && numRows < kMaxDim && numCols > 0 && numCols < kMaxDim && rb > 0, "bad table shape");
  PG_RETURN_IF_BAD();
  const int64_t needed = isPacked ? static_cast<int64_t>(args.ctx()->kernels()->packedBytes(static_cast<int32_t>(type), numRows, numCols)) : numRows * rb;
  if (isPacked && needed == 0) return makeInt(env, STATUS_UNSUPPORTED_TYPE);
  args.check(tableLen >= needed, "table.data has %lld bytes, needs %lld", static_cast<long long>(tableLen), static_cast<long long>(needed));
  args.check(outLen >= numIds * numCols, "out is shorter than ids.length * numCols");
  for (int64_t t = 0; t < numIds && args.isOk(); t++) {
    args.check(ids[t] >= 0 && ids[t] < numRows, "ids[%lld] = %d is out of range", static_cast<long long>(t), ids[t]);
  }
  PG_RETURN_IF_BAD();
  EmbeddingArgs a{out, static_cast<int32_t>(type), isPacked, table, numCols, ids, numIds};
  return makeInt(env, args.ctx()->embedding(a));
}

/** embedding(handle, out f32, table u8, type, numRows, numCols, ids i32) */
napi_value embedding(napi_env env, napi_callback_info info) { return embeddingImpl(env, info, false); }

/** embeddingPacked(handle, out f32, packed u8, type, numRows, numCols, ids i32): a table from packWeights */
napi_value embeddingPacked(napi_env env, napi_callback_info info) { return embeddingImpl(env, info, true); }

/** rmsNorm(handle, out f32, x f32, weight f32, numTokens, eps, residual f32?): with `residual`, x += residual first */
napi_value rmsNorm(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  int64_t outLen, xLen, dim, residualLen = 0;
  float* out = args.typedArray<float>(1, napi_float32_array, &outLen, "out");
  float* x = args.typedArray<float>(2, napi_float32_array, &xLen, "x");
  const float* weight = args.typedArray<float>(3, napi_float32_array, &dim, "weight");
  const int64_t numTokens = args.integer(4, "numTokens");
  const double eps = args.number(5, "eps");
  const float* residual = args.optionalF32(6, &residualLen, "residual");
  PG_RETURN_IF_BAD();
  args.check(numTokens >= 0 && numTokens < kMaxDim && dim > 0, "bad shape");
  args.check(xLen >= numTokens * dim && outLen >= numTokens * dim, "x or out is shorter than numTokens * weight.length");
  args.check(!residual || residualLen >= numTokens * dim, "residual is shorter than numTokens * weight.length");
  PG_RETURN_IF_BAD();
  return makeInt(env, args.ctx()->rmsNorm(out, x, residual, weight, numTokens, dim, eps));
}

/** rope(handle, x f32, numTokens, numHeads, headDim, positions i32, isNeox, numRotaryDims, freqBase, freqScale, freqFactors f32?, attnFactor) */
napi_value rope(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  int64_t xLen, numPositions, numFactors;
  RopeArgs a{};
  a.x = args.typedArray<float>(1, napi_float32_array, &xLen, "x");
  a.numTokens = args.integer(2, "numTokens");
  const int64_t numHeads = args.integer(3, "numHeads");
  const int64_t headDim = args.integer(4, "headDim");
  a.positions = args.typedArray<int32_t>(5, napi_int32_array, &numPositions, "positions");
  a.isNeox = args.integer(6, "isNeox") != 0;
  const int64_t numRotaryDims = args.integer(7, "numRotaryDims");
  a.freqBase = args.number(8, "freqBase");
  a.freqScale = args.number(9, "freqScale");
  a.freqFactors = args.optionalF32(10, &numFactors, "freqFactors");
  const double attnFactor = args.number(11, "attnFactor");
  PG_RETURN_IF_BAD();
  args.check(std::isfinite(attnFactor) && attnFactor > 0, "attnFactor must be finite and > 0");
  args.check(a.numTokens >= 0 && a.numTokens < kMaxDim && numHeads > 0 && headDim > 0 && headDim <= (1 << 20) && numHeads <= (1 << 20), "bad shape");
  args.check(numRotaryDims >= 0 && numRotaryDims <= headDim && numRotaryDims % 2 == 0, "numRotaryDims must be even and at most headDim");
  args.check(xLen >= a.numTokens * numHeads * headDim, "x is shorter than numTokens * numHeads * headDim");
  args.check(numPositions >= a.numTokens, "positions is shorter than numTokens");
  args.check(!a.freqFactors || numFactors >= numRotaryDims / 2, "freqFactors is shorter than numRotaryDims / 2");
  PG_RETURN_IF_BAD();
  a.numHeads = static_cast<int32_t>(numHeads);
  a.headDim = static_cast<int32_t>(headDim);
  a.numRotaryDims = static_cast<int32_t>(numRotaryDims);
  a.attnFactor = static_cast<float>(attnFactor);
  if (a.numTokens == 0 || numRotaryDims == 0) return makeInt(env, STATUS_OK);
  return makeInt(env, args.ctx()->rope(a));
}

/** storeKv(handle, kCache, vCache, k f32, v f32, slotIds i32, numTokens, kvType): the caches hold KvType kvType (NapiArgs::kvCache) */
napi_value storeKv(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  int64_t kCacheLen, vCacheLen, kLen, vLen, numSlotIds;
  StoreKvArgs a{};
  const int64_t kvType = args.integer(7, "kvType");
  PG_RETURN_IF_BAD();
  args.check(kvType >= KV_F32 && kvType <= KV_Q8_0, "kvType must be in [0, 4]");
  PG_RETURN_IF_BAD();
  a.kvType = static_cast<int32_t>(kvType);
  a.kCache = args.kvCache(1, a.kvType, &kCacheLen, "kv.k");
  a.vCache = args.kvCache(2, a.kvType, &vCacheLen, "kv.v");
  a.k = args.typedArray<float>(3, napi_float32_array, &kLen, "k");
  a.v = args.typedArray<float>(4, napi_float32_array, &vLen, "v");
  a.slotIds = args.typedArray<int32_t>(5, napi_int32_array, &numSlotIds, "slotIds");
  a.numTokens = args.integer(6, "numTokens");
  PG_RETURN_IF_BAD();
  if (a.numTokens == 0) return makeInt(env, STATUS_OK);
  args.check(a.numTokens > 0 && a.numTokens < kMaxDim && kLen % a.numTokens == 0 && kLen > 0, "k.length must be a positive multiple of numTokens");
  PG_RETURN_IF_BAD();
  a.kvDim = kLen / a.numTokens;
  args.check(a.kvType != KV_Q8_0 || a.kvDim % kKvQ8Block == 0, "a q8_0 cache needs kvDim to be a multiple of 32");
  args.check(vLen >= kLen, "v is shorter than k");
  args.check(numSlotIds >= a.numTokens, "slotIds is shorter than numTokens");
  PG_RETURN_IF_BAD();
  const int64_t numSlots = (kCacheLen < vCacheLen ? kCacheLen : vCacheLen) / a.kvDim;
  for (int64_t t = 0; t < a.numTokens && args.isOk(); t++) {
    args.check(a.slotIds[t] >= 0 && a.slotIds[t] < numSlots, "slotIds[%lld] = %d is outside the cache (%lld slots)",
               static_cast<long long>(t), a.slotIds[t], static_cast<long long>(numSlots));
  }
  PG_RETURN_IF_BAD();
  return makeInt(env, args.ctx()->storeKv(a));
}

/**
 * attention(handle, out f32, q f32, kCache, vCache, blockTable i32, blockSize, positions i32, numTokens,
 *           numHeads, numKvHeads, headDim, scale, blockTableStride, window, softcap, kvType): blockTableStride 0 = one block
 * table for all tokens, n > 0 = token t's table is blockTable[t * n, (t + 1) * n); window 0 = causal over every
 * earlier position, n > 0 = the last n positions only; softcap 0 = none (AttentionArgs)
 */
napi_value attention(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  int64_t outLen, qLen, kLen, vLen, numBlocks, numPositions;
  AttentionArgs a{};
  const int64_t kvType = args.integer(16, "kvType");
  PG_RETURN_IF_BAD();
  args.check(kvType >= KV_F32 && kvType <= KV_Q8_0, "kvType must be in [0, 4]");
  PG_RETURN_IF_BAD();
  a.kvType = static_cast<int32_t>(kvType);
  a.out = args.typedArray<float>(1, napi_float32_array, &outLen, "out");
  a.q = args.typedArray<float>(2, napi_float32_array, &qLen, "q");
  a.k = args.kvCache(3, a.kvType, &kLen, "kv.k");
  a.v = args.kvCache(4, a.kvType, &vLen, "kv.v");
  a.blockTable = args.typedArray<int32_t>(5, napi_int32_array, &numBlocks, "kv.blockTable");
  a.blockSize = args.integer(6, "kv.blockSize");
  a.positions = args.typedArray<int32_t>(7, napi_int32_array, &numPositions, "positions");
  a.numTokens = args.integer(8, "numTokens");
  const int64_t numHeads = args.integer(9, "numHeads");
  const int64_t numKvHeads = args.integer(10, "numKvHeads");
  const int64_t headDim = args.integer(11, "headDim");
  a.scale = static_cast<float>(args.number(12, "scale"));
  a.blockTableStride = args.integer(13, "blockTableStride");
  const int64_t window = args.integer(14, "window");
  a.softcap = static_cast<float>(args.number(15, "softcap"));
  PG_RETURN_IF_BAD();
  args.check(window >= 0 && window < kMaxDim, "window must be in [0, 2^31)");
  args.check(a.softcap >= 0.0f && std::isfinite(a.softcap), "softcap must be finite and >= 0");
  a.window = static_cast<int32_t>(window);
  args.check(numHeads > 0 && numKvHeads > 0 && numHeads % numKvHeads == 0 && numHeads <= (1 << 16),
             "numHeads must be a positive multiple of numKvHeads");
  args.check(headDim > 0 && headDim <= (1 << 16) && a.blockSize > 0 && a.blockSize < kMaxDim && a.numTokens >= 0 && a.numTokens < kMaxDim, "bad shape");
  args.check(a.blockTableStride >= 0 && a.blockTableStride < kMaxDim, "blockTableStride must be in [0, 2^31)");
  PG_RETURN_IF_BAD();
  const int64_t qDim = numHeads * headDim;
  const int64_t kvDim = numKvHeads * headDim;
  args.check(a.kvType != KV_Q8_0 || kvDim % kKvQ8Block == 0, "a q8_0 cache needs numKvHeads * headDim to be a multiple of 32");
  args.check(qLen >= a.numTokens * qDim && outLen >= a.numTokens * qDim, "q or out is shorter than numTokens * numHeads * headDim");
  args.check(numPositions >= a.numTokens, "positions is shorter than numTokens");
  args.check(a.blockTableStride == 0 || numBlocks >= a.numTokens * a.blockTableStride, "blockTable is shorter than numTokens * blockTableStride");
  PG_RETURN_IF_BAD();
  const int64_t numPhysicalBlocks = (kLen < vLen ? kLen : vLen) / kvDim / a.blockSize;
  // every block each token reads, in its own table (the shared table: up to the largest position)
  const int64_t tableLength = a.blockTableStride > 0 ? a.blockTableStride : numBlocks;
  int64_t checkedLogical = 0;  // shared table: entries [0, checkedLogical) are checked
  for (int64_t t = 0; t < a.numTokens && args.isOk(); t++) {
    args.check(a.positions[t] >= 0, "positions[%lld] is negative", static_cast<long long>(t));
    if (!args.isOk()) break;
    const int64_t numLogical = a.positions[t] / a.blockSize + 1;
    args.check(numLogical <= tableLength, "position %lld needs %lld blocks but the block table has %lld", static_cast<long long>(a.positions[t]),
               static_cast<long long>(numLogical), static_cast<long long>(tableLength));
    const int32_t* table = a.blockTable + t * a.blockTableStride;
    for (int64_t b = a.blockTableStride > 0 ? 0 : checkedLogical; b < numLogical && args.isOk(); b++) {
      args.check(table[b] >= 0 && table[b] < numPhysicalBlocks, "blockTable[%lld] = %d is outside the cache (%lld blocks)",
                 static_cast<long long>(t * a.blockTableStride + b), table[b], static_cast<long long>(numPhysicalBlocks));
    }
    if (a.blockTableStride == 0 && numLogical > checkedLogical) checkedLogical = numLogical;
  }
  PG_RETURN_IF_BAD();
  a.numHeads = static_cast<int32_t>(numHeads);
  a.numKvHeads = static_cast<int32_t>(numKvHeads);
  a.headDim = static_cast<int32_t>(headDim);
  if (a.numTokens == 0) return makeInt(env, STATUS_OK);
  return makeInt(env, args.ctx()->attention(a));
}

/** argmaxRows(handle, out i32, x f32, numRows, rowLength): out[r] = the first index of row r's largest value */
napi_value argmaxRows(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  int64_t outLen, xLen;
  int32_t* out = args.typedArray<int32_t>(1, napi_int32_array, &outLen, "out");
  const float* x = args.typedArray<float>(2, napi_float32_array, &xLen, "x");
  const int64_t numRows = args.integer(3, "numRows");
  const int64_t rowLength = args.integer(4, "rowLength");
  PG_RETURN_IF_BAD();
  args.check(numRows >= 0 && rowLength > 0 && rowLength < kMaxDim && outLen >= numRows && xLen / rowLength >= numRows,
             "out or x is shorter than numRows (rows of rowLength)");
  PG_RETURN_IF_BAD();
  return makeInt(env, args.ctx()->argmaxRows(out, x, numRows, rowLength));
}

/** touchLines(handle, data u8): reads every cache line of data on all threads (timed by the caller) */
napi_value touchLines(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  int64_t length;
  const uint8_t* data = args.typedArray<uint8_t>(1, napi_uint8_array, &length, "data");
  PG_RETURN_IF_BAD();
  args.ctx()->touchLines(data, length);  // (the sum only keeps the reads from being optimized away)
  return makeInt(env, STATUS_OK);
}

/**
 * setReadAheadPlan(handle, weights: Uint8Array[], shapes i32 [weights.length, 4]: type, numRows,
 * numCols, isPacked 0/1): the matmul weights of a forward pass in call order (Context::setReadAheadPlan);
 * an empty list turns read ahead off. The addon holds `weights` until the next plan or dispose.
 */
napi_value setReadAheadPlan(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  napi_value list = args.value(1);
  int64_t shapesLen;
  const int32_t* shapes = args.typedArray<int32_t>(2, napi_int32_array, &shapesLen, "shapes");
  PG_RETURN_IF_BAD();
  bool isArray = false;
  uint32_t count = 0;
  args.check(list && napi_is_array(env, list, &isArray) == napi_ok && isArray && napi_get_array_length(env, list, &count) == napi_ok, "weights must be an array");
  PG_RETURN_IF_BAD();
  args.check(shapesLen == 4 * static_cast<int64_t>(count), "shapes has %lld values, needs 4 per weight (%u weights)", static_cast<long long>(shapesLen), count);
  PG_RETURN_IF_BAD();
  PlannedWeight* plan = static_cast<PlannedWeight*>(std::calloc(count > 0 ? count : 1, sizeof(PlannedWeight)));
  if (!plan) return makeInt(env, STATUS_OUT_OF_MEMORY);
  for (uint32_t i = 0; i < count && args.isOk(); i++) {
    napi_value item;
    bool isTyped = false;
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_element(env, list, i, &item) != napi_ok || napi_is_typedarray(env, item, &isTyped) != napi_ok || !isTyped ||
        napi_get_typedarray_info(env, item, &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_uint8_array) {
      args.fail("weights[%u] must be a Uint8Array", i);
      break;
    }
    const int32_t* shape = shapes + 4 * i;
    args.check(hasMatmul(shape[0]) && shape[1] > 0 && shape[2] > 0 && checkedRowBytes(shape[0], shape[2]) > 0, "weights[%u]: bad type or shape", i);
    plan[i] = {static_cast<const uint8_t*>(data), static_cast<int64_t>(length), shape[0], shape[3] != 0, shape[1], shape[2]};
  }
  napi_ref ref = nullptr;
  if (args.isOk() && count > 0 && napi_create_reference(env, list, 1, &ref) != napi_ok) {
    std::free(plan);
    return makeInt(env, STATUS_OUT_OF_MEMORY);
  }
  if (!args.isOk()) {
    std::free(plan);
    return makeInt(env, STATUS_BAD_ARGUMENT);
  }
  const bool isSet = args.ctx()->setReadAheadPlan(plan, count);  // (stops reading the old plan's weights first)
  std::free(plan);
  releaseReadAhead(env, args.handle());
  args.handle()->readAhead = isSet ? ref : nullptr;
  if (!isSet) {
    if (ref) napi_delete_reference(env, ref);
    return makeInt(env, STATUS_OUT_OF_MEMORY);
  }
  return makeInt(env, STATUS_OK);
}

/** add(handle, out f32, a f32, b f32, n) */
napi_value add(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  int64_t outLen, aLen, bLen;
  float* out = args.typedArray<float>(1, napi_float32_array, &outLen, "out");
  const float* a = args.typedArray<float>(2, napi_float32_array, &aLen, "a");
  const float* b = args.typedArray<float>(3, napi_float32_array, &bLen, "b");
  const int64_t n = args.integer(4, "n");
  PG_RETURN_IF_BAD();
  args.check(n >= 0 && outLen >= n && aLen >= n && bLen >= n, "an array is shorter than n");
  PG_RETURN_IF_BAD();
  return makeInt(env, args.ctx()->add(out, a, b, n));
}

/** scale(handle, x f32, n, s): in place, x[i] *= s */
napi_value scale(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  int64_t xLen;
  float* x = args.typedArray<float>(1, napi_float32_array, &xLen, "x");
  const int64_t n = args.integer(2, "n");
  const double s = args.number(3, "s");
  PG_RETURN_IF_BAD();
  args.check(n >= 0 && xLen >= n, "x is shorter than n");
  PG_RETURN_IF_BAD();
  return makeInt(env, args.ctx()->scale(x, n, static_cast<float>(s)));
}

/** softcap(handle, x f32, n, cap): in place, x[i] = cap · tanh(x[i] / cap) */
napi_value softcap(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  int64_t xLen;
  float* x = args.typedArray<float>(1, napi_float32_array, &xLen, "x");
  const int64_t n = args.integer(2, "n");
  const double cap = args.number(3, "cap");
  PG_RETURN_IF_BAD();
  args.check(n >= 0 && xLen >= n, "x is shorter than n");
  args.check(cap > 0 && std::isfinite(cap), "cap must be finite and > 0");
  PG_RETURN_IF_BAD();
  return makeInt(env, args.ctx()->softcap(x, n, static_cast<float>(cap)));
}

/** addBias(handle, x f32, bias f32, numTokens): in place, x[t, i] += bias[i] */
napi_value addBias(napi_env env, napi_callback_info info) {
  PG_BEGIN();
  int64_t xLen, dim;
  float* x = args.typedArray<float>(1, napi_float32_array, &xLen, "x");
  const float* bias = args.typedArray<float>(2, napi_float32_array, &dim, "bias");
  const int64_t numTokens = args.integer(3, "numTokens");
  PG_RETURN_IF_BAD();
  args.check(numTokens >= 0 && (numTokens == 0 || dim <= xLen / numTokens), "x is shorter than numTokens × bias length");
  PG_RETURN_IF_BAD();
  return makeInt(env, args.ctx()->addBias(x, bias, numTokens, dim));
}

/**
 * quantizeRows(type, src f32, numCols, importance f32 | null, out u8): src's rows of numCols values
 * in `type` (quantize.h), on the calling thread; takes no handle (no context, no pool): the
 * quantize command's worker threads each call it on their own chunk.
 */
napi_value quantizeRowsOp(napi_env env, napi_callback_info info) {
  Args args(env, info);  // argument 0 is the type: no handle, so no message for lastError
  const int64_t type = args.integer(0, "type");
  int64_t n, numImportance, outLen;
  const float* src = args.typedArray<float>(1, napi_float32_array, &n, "src");
  const int64_t numCols = args.integer(2, "numCols");
  const float* importance = args.optionalF32(3, &numImportance, "importance");
  uint8_t* out = args.typedArray<uint8_t>(4, napi_uint8_array, &outLen, "out");
  PG_RETURN_IF_BAD();
  const int32_t blockSize = quantizeBlockSize(static_cast<int32_t>(type));
  if (blockSize == 0 || type != static_cast<int32_t>(type)) return makeInt(env, STATUS_UNSUPPORTED_TYPE);
  const bool isOk = numCols > 0 && numCols % blockSize == 0 && n % numCols == 0 && (!importance || numImportance >= numCols) &&
                    outLen == quantizedBytes(static_cast<int32_t>(type), n);
  if (!isOk) return makeInt(env, STATUS_BAD_ARGUMENT);
  return makeInt(env, quantizeRows(static_cast<int32_t>(type), src, n, numCols, importance, out));
}

}  // namespace
}  // namespace peregrine

NAPI_MODULE_INIT() {
  using namespace peregrine;
  const napi_property_descriptor props[] = {
      {"createContext", nullptr, createContext, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"disposeContext", nullptr, disposeContext, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"contextIsa", nullptr, contextIsa, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"contextThreads", nullptr, contextThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setBf16Batches", nullptr, setBf16Batches, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"lastError", nullptr, lastError, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"bestIsa", nullptr, bestIsa, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"typeTraits", nullptr, typeTraitsList, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"allocateWeightBuffer", nullptr, allocateWeightBuffer, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"matmul", nullptr, matmul, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"matmulPacked", nullptr, matmulPacked, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"packedBytes", nullptr, packedBytes, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"packWeights", nullptr, packWeights, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"faultInWeights", nullptr, faultInWeights, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"embedding", nullptr, embedding, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"embeddingPacked", nullptr, embeddingPacked, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rmsNorm", nullptr, rmsNorm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rope", nullptr, rope, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"storeKv", nullptr, storeKv, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"attention", nullptr, attention, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"argmaxRows", nullptr, argmaxRows, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"add", nullptr, add, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"addBias", nullptr, addBias, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"scale", nullptr, scale, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"softcap", nullptr, softcap, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"touchLines", nullptr, touchLines, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setReadAheadPlan", nullptr, setReadAheadPlan, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"quantizeRows", nullptr, quantizeRowsOp, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return nullptr;
  napi_value abi;
  if (napi_create_int32(env, kAbiVersion, &abi) != napi_ok || napi_set_named_property(env, exports, "abiVersion", abi) != napi_ok) {
    return nullptr;
  }
  return exports;
}
