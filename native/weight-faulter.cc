#include "weight-faulter.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace peregrine {

bool WeightFaulter::start(uint8_t* data, int64_t bytes) {
  stop();
  if (bytes <= 0) return true;
  data_ = data;
  bytes_ = bytes;
  skipTo_.store(data, std::memory_order_relaxed);
  isStopped_.store(false, std::memory_order_relaxed);
  isRunning_ = pthread_create(&thread_, nullptr, &WeightFaulter::threadMain, this) == 0;
  return isRunning_;
}

void WeightFaulter::stop() {
  if (!isRunning_) return;
  isStopped_.store(true, std::memory_order_relaxed);
  pthread_join(thread_, nullptr);
  isRunning_ = false;
}

void* WeightFaulter::threadMain(void* arg) {
  static_cast<WeightFaulter*>(arg)->run();
  return nullptr;
}

void WeightFaulter::run() {
#if defined(__linux__)
  constexpr int64_t kStep = int64_t{2} << 20;  // a huge page: how long stop() may wait
  constexpr int kPopulateWrite = 23;  // MADV_POPULATE_WRITE (Linux 5.14; older headers lack it)
  uint8_t* const end = data_ + bytes_;
  for (uint8_t* at = data_; at < end; at += kStep) {
    if (isStopped_.load(std::memory_order_relaxed)) return;
    // from the page the caller is writing in, when it is ahead (that page is resident already: its head is written)
    const uint8_t* written = skipTo_.load(std::memory_order_relaxed);
    if (written > at) at = reinterpret_cast<uint8_t*>(reinterpret_cast<uintptr_t>(written) & ~uintptr_t{4095});
    if (at >= end) return;
    const int64_t n = end - at < kStep ? end - at : kStep;
    if (madvise(at, static_cast<size_t>(n), kPopulateWrite) != 0) return;  // (an older kernel: EINVAL)
  }
#endif
}

}  // namespace peregrine
