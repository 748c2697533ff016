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
  constexpr int64_t kStep = int64_t{2} << 20;  // a huge page: how long stop() may wait
  uint8_t* const end = data_ + bytes_;
  for (uint8_t* at = data_; at < end; at += kStep) {
    if (isStopped_.load(std::memory_order_relaxed)) return;
    // from the page the caller is writing in, when it is ahead (that page is resident already: its head is written)
    const uint8_t* written = skipTo_.load(std::memory_order_relaxed);
    if (written > at) at = reinterpret_cast<uint8_t*>(reinterpret_cast<uintptr_t>(written) & ~uintptr_t{4095});
    if (at >= end) return;
    const int64_t n = end - at < kStep ? end - at : kStep;
#if defined(__x86_64__)
    // a write fault per page, by a locked OR of 0 (the byte stays what it is, even if packWeights
    // writes it meanwhile): a fault takes only its mapping's lock, where MADV_POPULATE_WRITE holds
    // the process's mmap lock, on which the garbage collector's mmap/munmap calls then queued
    // (scavenges of 300-450 ms during a load)
    for (int64_t i = 0; i < n; i += 4096) asm volatile("lock orb $0, %0" : "+m"(at[i]) : : "memory");
#elif defined(__linux__)
    constexpr int kPopulateWrite = 23;  // MADV_POPULATE_WRITE (Linux 5.14; older headers lack it)
    if (madvise(at, static_cast<size_t>(n), kPopulateWrite) != 0) return;  // (an older kernel: EINVAL)
#else
    return;
#endif
  }
}

}  // namespace peregrine
