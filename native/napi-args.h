// Argument parsing for the N-API functions in peregrine-addon.cc: the handle a JS context
// object wraps, typed accessors that record what was wrong instead of throwing, and the two
// macros every op starts with. Included by peregrine-addon.cc only.
#pragma once

#define NAPI_VERSION 8
#include <node_api.h>

#include <cstdarg>
#include <cstdio>

#include "context.h"
#include "kernels.h"

namespace peregrine {

/** What a JS handle owns: a context until dispose(), and the last error message. */
struct Handle {
  Context* ctx = nullptr;
  napi_env env = nullptr;
  napi_ref readAhead = nullptr;  // the weights of the read ahead plan (Context::setReadAheadPlan): kept alive while planned
  bool hasCleanupHook = false;
  char lastError[256] = {};
  Handle* prevLive = nullptr;  // the list of live handles (peregrine-addon.cc)
  Handle* nextLive = nullptr;
};

inline napi_value makeInt(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

/** Parsed call arguments: argv plus the context handle (argv[0]), with typed accessors. */
class Args {
 public:
  static constexpr size_t kMaxArgs = 17;

  Args(napi_env env, napi_callback_info info) : env_(env) {
    argc_ = kMaxArgs;
    if (napi_get_cb_info(env, info, &argc_, argv_, nullptr, nullptr) != napi_ok) argc_ = 0;
    void* data = nullptr;
    if (argc_ > 0 && napi_get_value_external(env, argv_[0], &data) == napi_ok) handle_ = static_cast<Handle*>(data);
  }

  Handle* handle() const { return handle_; }
  napi_value value(size_t i) const { return i < argc_ ? argv_[i] : nullptr; }
  Context* ctx() const { return handle_ ? handle_->ctx : nullptr; }

  /** A status to return before any argument is read: no handle, or a disposed one. */
  Status handleStatus() const {
    if (!handle_) return STATUS_BAD_ARGUMENT;
    return handle_->ctx ? STATUS_OK : STATUS_DISPOSED;
  }

  bool fail(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (handle_) {
      va_list ap;
      va_start(ap, fmt);
      std::vsnprintf(handle_->lastError, sizeof(handle_->lastError), fmt, ap);
      va_end(ap);
    }
    isOk_ = false;
    return false;
  }

  bool isOk() const { return isOk_; }

  template <typename T>
  T* typedArray(size_t i, napi_typedarray_type type, int64_t* length, const char* name) {
    *length = 0;
    bool isTyped = false;
    if (i >= argc_ || napi_is_typedarray(env_, argv_[i], &isTyped) != napi_ok || !isTyped) {
      fail("%s must be a typed array", name);
      return nullptr;
    }
    napi_typedarray_type actual;
    size_t len = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env_, argv_[i], &actual, &len, &data, nullptr, nullptr) != napi_ok || actual != type) {
      fail("%s has the wrong element type", name);
      return nullptr;
    }
    *length = static_cast<int64_t>(len);
    return static_cast<T*>(data);
  }

  /**
   * A KV cache array of KvType `kvType` (kernels.h): a Float32Array (f32), Uint16Array (f16, bf16) or
   * Uint8Array (fp8, q8_0 blocks); *length is in values (a q8_0 cache's 34 bytes are 32).
   */
  void* kvCache(size_t i, int32_t kvType, int64_t* length, const char* name) {
    *length = 0;
    const napi_typedarray_type expected = kvType == KV_F32 ? napi_float32_array : kvType == KV_F16 || kvType == KV_BF16 ? napi_uint16_array : napi_uint8_array;
    napi_typedarray_type actual;
    size_t len = 0;
    void* data = nullptr;
    bool isTyped = false;
    if (i >= argc_ || napi_is_typedarray(env_, argv_[i], &isTyped) != napi_ok || !isTyped ||
        napi_get_typedarray_info(env_, argv_[i], &actual, &len, &data, nullptr, nullptr) != napi_ok ||
        actual != expected) {
      fail("%s must be a %s for KV type %d", name, expected == napi_float32_array ? "Float32Array" : expected == napi_uint16_array ? "Uint16Array" : "Uint8Array",
           static_cast<int>(kvType));
      return nullptr;
    }
    *length = kvType == KV_Q8_0 ? static_cast<int64_t>(len) / kKvQ8BlockBytes * kKvQ8Block : static_cast<int64_t>(len);
    return data;
  }

  /** An optional Float32Array: null or undefined gives nullptr with length 0. */
  const float* optionalF32(size_t i, int64_t* length, const char* name) {
    *length = 0;
    napi_valuetype t = napi_undefined;
    if (i >= argc_ || napi_typeof(env_, argv_[i], &t) != napi_ok || t == napi_undefined || t == napi_null) return nullptr;
    return typedArray<float>(i, napi_float32_array, length, name);
  }

  int64_t integer(size_t i, const char* name) {
    int64_t v = 0;
    if (i >= argc_ || napi_get_value_int64(env_, argv_[i], &v) != napi_ok) fail("%s must be a number", name);
    return v;
  }

  double number(size_t i, const char* name) {
    double v = 0;
    if (i >= argc_ || napi_get_value_double(env_, argv_[i], &v) != napi_ok) fail("%s must be a number", name);
    return v;
  }

  /** Ok when it is; otherwise records the message and returns false. */
  bool check(bool condition, const char* fmt, ...) __attribute__((format(printf, 3, 4))) {
    if (condition || !isOk_) return condition;
    if (handle_) {
      va_list ap;
      va_start(ap, fmt);
      std::vsnprintf(handle_->lastError, sizeof(handle_->lastError), fmt, ap);
      va_end(ap);
    }
    isOk_ = false;
    return false;
  }

 private:
  napi_env env_;
  size_t argc_ = 0;
  napi_value argv_[kMaxArgs];
  Handle* handle_ = nullptr;
  bool isOk_ = true;
};

// Every op starts by parsing its arguments and returns early on a bad or disposed handle.
#define PG_BEGIN()        \
  Args args(env, info); \
  if (Status s = args.handleStatus(); s != STATUS_OK) return makeInt(env, s)

#define PG_RETURN_IF_BAD()                                      \
  do {                                                          \
    if (!args.isOk()) return makeInt(env, STATUS_BAD_ARGUMENT); \
  } while (0)

}  // namespace peregrine
