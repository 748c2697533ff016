// One thread that faults in fresh weight memory for writing while the loader reads the weights
// from the file, so that packWeights finds its destination resident (on a VM a fresh huge page is
// most of a load's cost). A thread of its own, not the kernel pool's: a pool job would be stopped
// by every packWeights and make it wait for the huge page being faulted in.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>

namespace peregrine {

class WeightFaulter {
 public:
  WeightFaulter() = default;
  ~WeightFaulter() { stop(); }
  WeightFaulter(const WeightFaulter&) = delete;
  WeightFaulter& operator=(const WeightFaulter&) = delete;

  /**
   * Faults in [data, data + bytes) (page aligned) for writing, the contents kept (x86-64: a locked
   * OR of 0 per page; elsewhere on Linux MADV_POPULATE_WRITE), 2 MiB at a time, on a thread of its
   * own, after stopping any earlier range. The memory must
   * stay mapped until stop(). False if the thread cannot start (nothing is faulted in then).
   */
  bool start(uint8_t* data, int64_t bytes);
  /** the caller has written up to `end`: the thread goes on from there if it is behind */
  void skipTo(const uint8_t* end) { skipTo_.store(end, std::memory_order_relaxed); }
  /** whether the range being faulted in overlaps [lo, hi) */
  bool overlaps(const uint8_t* lo, const uint8_t* hi) const { return isRunning_ && data_ < hi && lo < data_ + bytes_; }
  /** stops the thread and returns once it touches no memory any more */
  void stop();

 private:
  static void* threadMain(void* arg);
  void run();

  uint8_t* data_ = nullptr;
  int64_t bytes_ = 0;
  bool isRunning_ = false;  // (the caller's thread only)
  pthread_t thread_{};
  std::atomic<const uint8_t*> skipTo_{nullptr};
  std::atomic<bool> isStopped_{false};
};

}  // namespace peregrine
